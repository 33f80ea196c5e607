"""SIGKILL a training run at random moments, resume it, and count the resumes that end bit-identical.

    .venv/bin/python scripts/soak_resume.py --kills 5 --seed 0

One uninterrupted run is the reference. Each trial starts the same run in a fresh workdir,
SIGKILLs it at a random moment (by default a random time after its first step, within the
reference's training time; with --anywhere, any time after the process starts, imports and
compilation included), reruns the same command and compares the final parameters and
metrics.jsonl with the reference's, byte for byte. The default config is the tests' seconds-long
LeNetBN run on the 2,000-image fixture (prepared into a temporary data dir unless --data-dir).
Exit status 0 when every resume was bit-identical.
"""

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "tests" / "configs" / "tiny_lenet_bn.py"


def _command(config: Path, workdir: Path, data_dir: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "jaxmnist.cli", "train", str(config), "--workdir", str(workdir),
            "--data-dir", str(data_dir), *extra]


def _training_started(workdir: Path) -> float | None:
    """When the process's first step finished (timing.jsonl's first_step row), else None."""
    timing = workdir / "timing.jsonl"
    if not timing.exists():
        return None
    return time.time() if '"first_step"' in timing.read_text(errors="replace") else None


def _final_variables(workdir: Path):
    import jax
    import numpy as np

    from jaxmnist.inference.load import load_trained

    _, _, variables = load_trained(str(workdir))
    return [np.asarray(leaf) for leaf in jax.tree.leaves(variables)]


def _identical(workdir: Path, reference: Path) -> tuple[bool, str]:
    if (workdir / "metrics.jsonl").read_bytes() != (reference / "metrics.jsonl").read_bytes():
        return False, "metrics.jsonl differs"
    leaves, expected = _final_variables(workdir), _final_variables(reference)
    if len(leaves) != len(expected) or any(a.shape != b.shape or a.dtype != b.dtype or a.tobytes() != b.tobytes()
                                           for a, b in zip(leaves, expected)):
        return False, "final parameters differ"
    return True, "bit-identical"


def _where_killed(workdir: Path) -> str:
    checkpoints = workdir / "checkpoints"
    names = sorted(path.name for path in checkpoints.iterdir()) if checkpoints.is_dir() else []
    rows = (workdir / "metrics.jsonl").read_text(errors="replace").splitlines() if \
        (workdir / "metrics.jsonl").exists() else []
    last = rows[-1] if rows else ""
    try:
        step = json.loads(last)["step"]
    except (ValueError, KeyError, TypeError):
        step = "partial line" if last else "none"
    return f"checkpoints {names or 'none'}, last logged step {step}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=3, help="trials, one SIGKILL each (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--data-dir", type=Path, help="prepared tfds data dir (default: the fixture, prepared)")
    parser.add_argument("--anywhere", action="store_true",
                        help="kill at any time after the process starts, not only while it trains")
    parser.add_argument("--keep", action="store_true", help="keep the workdirs (printed at the end)")
    parser.add_argument("extra", nargs="*", help="more `jaxmnist train` arguments, after --, e.g. -- "
                                                 "--steps-per-dispatch 4")
    args = parser.parse_args(argv)
    extra = args.extra if any(arg.startswith("--cpu-devices") for arg in args.extra) else \
        [*args.extra, "--cpu-devices", "1"]
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="jaxmnist-soak-"))
    data_dir = args.data_dir
    if data_dir is None:
        data_dir = root / "tfds"
        subprocess.run([sys.executable, "-m", "jaxmnist.cli", "data", "prepare", "--source",
                        str(REPO / "tests" / "fixtures"), "--data-dir", str(data_dir), "--allow-unofficial"],
                       check=True, capture_output=True, cwd=REPO)

    reference = root / "reference"
    started = time.time()
    process = subprocess.Popen(_command(args.config, reference, data_dir, extra), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, cwd=REPO)
    first_step = None
    while process.poll() is None:
        first_step = first_step or _training_started(reference)
        time.sleep(0.01)
    if process.returncode != 0:
        print(process.stderr.read(), file=sys.stderr)
        return 2
    total_seconds = time.time() - started
    # Until the last epoch's row: what follows (the curves' plot) is no training to interrupt.
    training_seconds = (reference / "metrics.jsonl").stat().st_mtime - (first_step or started)
    print(f"reference: {total_seconds:.1f} s, {training_seconds:.1f} s of it training")

    identical = killed = 0
    for trial in range(1, args.kills + 1):
        workdir = root / f"trial-{trial}"
        process = subprocess.Popen(_command(args.config, workdir, data_dir, extra), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, cwd=REPO)
        if args.anywhere:
            time.sleep(rng.uniform(0, total_seconds))
        else:
            delay = rng.uniform(0, training_seconds)
            while process.poll() is None and _training_started(workdir) is None:
                time.sleep(0.005)
            time.sleep(delay)
        was_running = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed += was_running
        where = _where_killed(workdir) if was_running else "had already finished"
        resumed = subprocess.run(_command(args.config, workdir, data_dir, extra), capture_output=True, text=True,
                                 cwd=REPO)
        if resumed.returncode != 0:
            print(f"trial {trial}: killed ({where}); the resume FAILED (exit {resumed.returncode}):\n"
                  f"{resumed.stderr[-2000:]}")
            continue
        same, verdict = _identical(workdir, reference)
        identical += same
        print(f"trial {trial}: killed ({where}); resumed: {verdict}")
    print(f"{identical} of {args.kills} resumes bit-identical ({killed} killed while running)")
    if args.keep:
        print(f"workdirs in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if identical == args.kills else 1


if __name__ == "__main__":
    sys.exit(main())
