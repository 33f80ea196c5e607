"""One training loop for every experiment: `train_and_evaluate(config, workdir)`, and
`train_group(configs, workdirs)` for seeds, sweeps and experiments trained as one program.

As in Flax's examples, the steps are small pure functions of (state, batch), and an experiment is
only a config. The data live on the devices: each split is put once on every device, an epoch's
order once per epoch, and a compiled block gathers, augments and trains on `steps_per_dispatch`
batches in a row; the host only dispatches blocks and reads the metric sums when it logs.

    steps.py       the pure functions: train_step and eval_step on a batch, the TrainState, the keys
    programs.py    the mesh of every device (runs x data) and the steps as sharded programs; runs per
                   program, halved where a device runs out of memory
    run_config.py  the config.json a workdir records, the check that a resumed run matches it, and
                   which runs can train as one group
    loop.py        train_and_evaluate / train_group: epochs, logging, checkpoints, signals
    logs.py        what a run logs: metrics.jsonl, timing.jsonl, TensorBoard events, the epoch table
    progress.py    the epoch bar and the time a run still needs
    dry_run.py     `estimate` (--dry-run): how long a run or a group takes here, measured
    command.py     `jaxmnist train`
"""

from jaxmnist.train.loop import Interrupted, train_and_evaluate, train_group

__all__ = ["Interrupted", "train_and_evaluate", "train_group"]
