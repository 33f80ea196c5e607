"""Host-to-device transfers per train step, counted by JAX's transfer guard.

Usage:
    python scripts/count_transfers.py --data-dir DIR [--steps-per-dispatch K] [--cpu-devices N] [--json]

Trains the engine tests' recipe (tests/configs/tiny_lenet_bn.py: LeNetBN, augmented, batch 16
here) for one epoch of 20 and one of 60 steps, each in a fresh process with
JAX_TRANSFER_GUARD=log_explicit, which logs every transfer, explicit
or not. Startup, the evaluation and the uploads of an epoch are the same in both runs, so
(transfers of the 60-step run - those of the 20-step run) / 40 is what each further step costs.
DIR is a tfds data dir with mnist prepared (e.g. from the test fixture:
`jaxmnist data prepare --source tests/fixtures --allow-unofficial --data-dir DIR`).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BATCH_SIZE = 16
STEPS = (20, 60)


def transfers(steps: int, args) -> int:
    """Host-to-device transfers the guard logged in a one-epoch run of `steps` steps."""
    command = [sys.executable, "-m", "jaxmnist.cli", "train", str(REPO / "tests" / "configs" / "tiny_lenet_bn.py"),
               "--workdir", tempfile.mkdtemp(prefix="count_transfers_"), "--data-dir", args.data_dir,
               "--epochs", "1", "--set", f"batch_size={BATCH_SIZE}", "--set", f"train_split=train[:{steps * BATCH_SIZE}]",
               "--set", "eval.test.split=test[:256]", "--set", "log_every_steps=20",
               "--set", "checkpoint_every_steps=0", "--cpu-devices", str(args.cpu_devices)]
    if args.steps_per_dispatch:
        command += ["--steps-per-dispatch", args.steps_per_dispatch]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO,
                            env={**os.environ, "JAX_TRANSFER_GUARD": "log_explicit", "TF_CPP_MIN_LOG_LEVEL": "0"})
    if result.returncode != 0:
        sys.exit(f"error: the {steps}-step run failed: {result.stderr.strip().splitlines()[-1]}")
    return sum("host-to-device transfer" in line for line in result.stderr.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--steps-per-dispatch", help="passed to `jaxmnist train` (default: its own)")
    parser.add_argument("--cpu-devices", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = {steps: transfers(steps, args) for steps in STEPS}
    per_step = (counts[STEPS[1]] - counts[STEPS[0]]) / (STEPS[1] - STEPS[0])
    report = {"steps_per_dispatch": args.steps_per_dispatch or "default", "cpu_devices": args.cpu_devices,
              "transfers": {str(steps): count for steps, count in counts.items()}, "per_step": per_step}
    print(json.dumps(report) if args.json else
          f"{counts[STEPS[0]]} transfers in {STEPS[0]} steps, {counts[STEPS[1]]} in {STEPS[1]}: "
          f"{per_step:.2f} per further step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
