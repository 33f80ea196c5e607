"""What a run shows and leaves behind: the epoch table, metrics.jsonl, timing.jsonl and TensorBoard events."""

import json
import time
from pathlib import Path

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tqdm import tqdm

from jaxmnist import workdir as workdir_lib
from jaxmnist.report.runs import parse_lines


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

    def print_row(self, row: dict, seconds: float, run: str | None = None):
        """The epoch's row; in a group, each run's row ends with its workdir."""
        if not self.header_printed:
            tqdm.write(self._line(self.columns))
            self.header_printed = True
        values = [row["epoch"], f"{row['train']['loss']:.4f}", f"{row['train']['accuracy']:.2f}%"]
        for name in self.eval_names:
            values += [f"{row[name]['loss']:.4f}", f"{row[name]['accuracy']:.2f}%"]
        values += [f"{row['learning_rate']:.3g}", f"{seconds:.1f}"]
        tqdm.write(self._line(values) + (f" | {run}" if run else ""))


class MetricsLog:
    """DIR/metrics.jsonl (one object per epoch and per logged step) and TensorBoard events in DIR/tensorboard.

    metrics.jsonl holds only what the seed determines (no wall time), so two runs with the same
    seed write identical files; wall time per epoch goes to DIR/timing.jsonl.

    The events are written with TensorBoard's own writer, without TensorFlow (importing it cost a
    resumed run seconds of its startup: docs/PERFORMANCE.md). Scalars are `simple_value` summaries, as
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
        kept = "".join(line + "\n" for row, line in parse_lines(path, warn=True) if row["step"] <= step)
        if kept != path.read_text(errors="replace"):
            workdir_lib.atomic_write_text(path, kept)

    def write(self, row: dict):
        with self.path.open("a") as file:
            file.write(json.dumps(row) + "\n")
        self._write_scalars(row)

    def write_timing(self, step: int, epoch: int, seconds: float):
        self._append_timing({"step": step, "epoch": epoch, "seconds": round(seconds, 3)})

    def write_first_step(self, step: int, epoch: int, seconds_since_start: float, devices: str, provenance: dict):
        """How long this process (fresh or resumed) took to finish its first step, on what devices, and
        what software (jaxmnist.runtime.provenance)."""
        self._append_timing({"kind": "first_step", "step": step, "epoch": epoch,
                             "seconds_since_start": round(seconds_since_start, 3), "devices": devices,
                             "provenance": provenance})

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
