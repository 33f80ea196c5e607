"""What a run shows while it trains: an epoch's bar, the time the run still needs."""

import os
import statistics
import time
from pathlib import Path

from tqdm import tqdm

_MODULE_LOADED = time.perf_counter()


class EpochBar(tqdm):
    """One epoch's progress bar, `epoch i/N` (`, R runs` for a group), with the time the whole run still
    needs (`run_left`; `group_left` where `later_runs` of the group train after these)."""

    def __init__(self, epoch: int, epochs: int, batches: int, first_batch: int, started: float,
                 epoch_seconds: float | None, enabled: bool, runs: int = 1, later_runs: int = 0):
        description = f"epoch {epoch}/{epochs}" + (f", {runs} runs" if runs > 1 else "")
        super().__init__(total=batches, initial=first_batch, desc=description, unit="batch",
                         leave=False, dynamic_ncols=True, disable=not enabled)
        self.epochs_after = epochs - epoch + later_wave_epochs(later_runs, runs, epochs)
        self.started, self.epoch_seconds = started, epoch_seconds
        self.left_name = "group_left" if later_runs else "run_left"
        self.shown = {}
        self.show()

    def show(self, **metrics):
        """Shows `metrics` and the run's remaining time as of now beside the bar."""
        if self.disable:
            return
        self.shown.update(metrics)
        left = seconds_left(self.epoch_seconds, self.epochs_after, self.n / self.total,
                            time.time() - self.started)
        self.set_postfix(self.shown if left is None else {**self.shown, self.left_name: format_duration(left)})

    def show_runs(self, live: list[dict]):
        """Shows the running loss and accuracy of the epoch so far: a run's own, a group's range."""
        def spread(key: str, digits: int, unit: str = "") -> str:
            low, high = (f"{value:.{digits}f}" for value in (min(one[key] for one in live),
                                                           max(one[key] for one in live)))
            return (low if low == high else f"{low}-{high}") + unit
        self.show(loss=spread("loss", 4), acc=spread("accuracy", 2, "%"))


def later_wave_epochs(later_runs: int, runs: int, epochs: int) -> int:
    """The epochs a group's `later_runs` train after a wave of `runs`, in waves of as many, each an
    epoch at about this wave's pace."""
    return -(-later_runs // runs) * epochs


def epoch_done_line(epoch: int, epochs: int, runs: int, later_runs: int, epoch_seconds: float) -> str:
    """'epoch 3/20 done; the run needs about 2m10s more', with a group's later waves counted."""
    who = "the run needs" if runs == 1 else f"the {runs} runs need"
    if later_runs:
        who = f"the {runs} runs and the {later_runs} after them need"
    left = seconds_left(epoch_seconds, epochs - epoch + later_wave_epochs(later_runs, runs, epochs), 1.0, 0.0)
    return f"epoch {epoch}/{epochs} done; {who} about {format_duration(left)} more"


def typical_epoch_seconds(epochs_seconds: list[float]) -> float | None:
    """What an epoch takes, from the seconds of those timed so far: the median of the last five,
    which neither the first epoch's compiles nor another process's burst on the machine moves."""
    return statistics.median(epochs_seconds[-5:]) if epochs_seconds else None


def seconds_left(epoch_seconds: float | None, epochs_after: int, epoch_fraction: float,
                 epoch_elapsed: float) -> float | None:
    """Seconds the run still needs: the rest of this epoch and `epochs_after` more.

    An epoch takes `epoch_seconds` (evaluation included: `typical_epoch_seconds`); before one is
    complete, as this epoch's pace so far says. None when nothing is timed yet.
    """
    if epoch_seconds is None:
        if epoch_fraction <= 0:
            return None
        epoch_seconds = epoch_elapsed / epoch_fraction
    return epoch_seconds * (1 - epoch_fraction + epochs_after)


def format_duration(seconds: float) -> str:
    """'45s', '3m12s', '2h05m': whole seconds up to an hour, whole minutes from there."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def seconds_since_process_start() -> float:
    """Wall time since this process started: what a user waits for, imports and compilation included."""
    try:  # Linux: the start time in clock ticks since boot is field 22 of /proc/self/stat
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):  # elsewhere: since this module was imported
        return time.perf_counter() - _MODULE_LOADED
