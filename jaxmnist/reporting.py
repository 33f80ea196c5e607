"""What a run shows and leaves behind: the epoch table, metrics.jsonl, TensorBoard events, curves.png."""

import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tqdm import tqdm

from jaxmnist import workdir as workdir_lib
from jaxmnist.errors import RunWarning, UserError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class EpochTable:
    """One row per epoch, like notebook 002's PrettyTable, printed under the progress bars."""

    def __init__(self, eval_names: list[str]):
        self.columns = ["epoch", "train loss", "train acc"]
        for name in eval_names:
            self.columns += [f"{name} loss", f"{name} acc"]
        self.columns += ["lr", "seconds"]
        self.eval_names = eval_names
        self.widths = [max(len(column), 8) for column in self.columns]
        self.header_printed = False

    def _line(self, values) -> str:
        return " | ".join(str(value).rjust(width) for value, width in zip(values, self.widths))

    def print_row(self, row: dict, seconds: float):
        if not self.header_printed:
            tqdm.write(self._line(self.columns))
            self.header_printed = True
        values = [row["epoch"], f"{row['train']['loss']:.4f}", f"{row['train']['accuracy']:.2f}%"]
        for name in self.eval_names:
            values += [f"{row[name]['loss']:.4f}", f"{row[name]['accuracy']:.2f}%"]
        values += [f"{row['learning_rate']:.3g}", f"{seconds:.1f}"]
        tqdm.write(self._line(values))


class MetricsLog:
    """DIR/metrics.jsonl (one object per epoch and per logged step) and TensorBoard events in DIR/tensorboard.

    metrics.jsonl holds only what the seed determines (no wall time), so two runs with the same
    seed write identical files; wall time per epoch goes to DIR/timing.jsonl.

    The events are written with TensorBoard's own writer, without TensorFlow (importing it cost a
    resumed run about 6 s of its startup). Scalars are `simple_value` summaries, as
    tf.compat.v1.summary.scalar writes them: TensorBoard shows them, and so does
    EventAccumulator.Scalars (tf.summary.scalar's tensor summaries land in its Tensors instead).
    """

    def __init__(self, workdir: Path, resume_step: int):
        self.path = workdir / "metrics.jsonl"
        self.timing_path = workdir / "timing.jsonl"
        for path in (self.path, self.timing_path):
            self._truncate_after(path, resume_step)
        self.writer = EventFileWriter(str(workdir / "tensorboard"))
        # A START event makes TensorBoard drop the older files' events from its step on: those an
        # interrupted process logged after its checkpoint, which will be logged again.
        self.writer.add_event(Event(wall_time=time.time(), step=resume_step + 1,
                                    session_log=SessionLog(status=SessionLog.START)))

    @staticmethod
    def _truncate_after(path: Path, step: int):
        """Drop rows logged after the checkpoint a resumed run continues from: they will be logged again.

        A last line cut short (the process died while appending it) is dropped with a warning.
        The file is replaced whole, so dying here loses nothing either.
        """
        if not path.exists():
            return
        kept = "".join(line + "\n" for row, line in _parse_lines(path, warn=True) if row["step"] <= step)
        if kept != path.read_text(errors="replace"):
            workdir_lib.atomic_write_text(path, kept)

    def write(self, row: dict):
        with self.path.open("a") as file:
            file.write(json.dumps(row) + "\n")
        self._write_scalars(row)

    def write_timing(self, step: int, epoch: int, seconds: float):
        self._append_timing({"step": step, "epoch": epoch, "seconds": round(seconds, 3)})

    def write_first_step(self, step: int, epoch: int, seconds_since_start: float):
        """How long this process (fresh or resumed) took to finish its first step."""
        self._append_timing({"kind": "first_step", "step": step, "epoch": epoch,
                             "seconds_since_start": round(seconds_since_start, 3)})

    def _append_timing(self, row: dict):
        with self.timing_path.open("a") as file:
            file.write(json.dumps(row) + "\n")

    def _write_scalars(self, row: dict):
        scalars = {f"{name}/{metric}": value[metric] for name, value in row.items() if isinstance(value, dict)
                   for metric in ("loss", "accuracy")}
        scalars["learning_rate"] = row["learning_rate"]
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value) for tag, value in scalars.items()])
        self.writer.add_event(Event(wall_time=time.time(), step=row["step"], summary=summary))
        self.writer.flush()


def _parse_lines(path: Path, warn: bool = False) -> list[tuple[dict, str]]:
    """(row, line) of a .jsonl log; a last line cut short is left out (with a RunWarning if `warn`)."""
    text = path.read_text(errors="replace")
    lines = text.split("\n")
    rows = []
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "step" not in row:
                raise ValueError("not a row")
        except ValueError:
            if number == len(lines):  # no newline after it: the write of this row was cut short
                if warn:
                    warnings.warn(f"{path}: dropped its last line, cut short when it was written", RunWarning,
                                  stacklevel=2)
                break
            raise UserError(f"{path}, line {number} is damaged (not a JSON row): delete that line, or the "
                            "file to start its log afresh") from None
        rows.append((row, line))
    return rows


def read_rows(workdir: Path) -> list[dict]:
    path = Path(workdir) / "metrics.jsonl"
    return [row for row, _ in _parse_lines(path)] if path.exists() else []


def plot_curves(workdir: Path, out: Path) -> "Figure | None":
    """Loss and accuracy per epoch for every evaluated split, and the learning rate per logged step.

    Returns the saved, closed Figure (its axes stay readable), or None, writing nothing, before the first epoch.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(workdir)
    epochs = [row for row in rows if row["kind"] == "epoch"]
    steps = [row for row in rows if row["kind"] == "step"]
    if not epochs:
        return None
    splits = [name for name, value in epochs[0].items() if isinstance(value, dict)]
    figure, (loss_axis, accuracy_axis, lr_axis) = plt.subplots(1, 3, figsize=(15, 4))
    for name in splits:
        x = [row["epoch"] for row in epochs]
        loss_axis.plot(x, [row[name]["loss"] for row in epochs], marker="o", label=name)
        accuracy_axis.plot(x, [row[name]["accuracy"] for row in epochs], marker="o", label=name)
    loss_axis.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    lr_rows = steps or epochs
    lr_axis.plot([row["step"] for row in lr_rows], [row["learning_rate"] for row in lr_rows])
    lr_axis.set(xlabel="step", ylabel="learning rate", title="learning rate")
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    lr_axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return figure
