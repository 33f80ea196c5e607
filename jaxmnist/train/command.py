"""`jaxmnist train`: the config from the command line, then a run or (--dry-run) an estimate."""

import copy
import itertools
import json
import re
from pathlib import Path

import jax
import ml_collections

from jaxmnist import config as config_lib
from jaxmnist import runtime
from jaxmnist.errors import UserError
from jaxmnist.report import compare
from jaxmnist.train.loop import Interrupted, train_group
from jaxmnist.train.dry_run import estimate
from jaxmnist.train.progress import format_duration
from jaxmnist.train.run_config import check_run, recorded_text


def resolve_config(args, experiment: str | None = None) -> ml_collections.ConfigDict:
    """The run's config from `jaxmnist train`'s arguments: the experiment (`experiment`, else
    `args.experiment`), then --set, --seed and the rest."""
    config = config_lib.load_experiment(experiment or args.experiment)
    seed = getattr(args, "seed", None)
    if seed is not None:
        if any(override.split("=", 1)[0].strip() == "seed" for override in args.set):
            raise UserError("give the seed once: --seed or --set seed=..., not both")
        args.set = [*args.set, f"seed={seed}"]
    config_lib.apply_overrides(config, args.set)
    with config.unlocked():
        # A run of other epochs or fewer examples is never presented as a reproduction of the notebook.
        config.shortened = (args.epochs is not None and args.epochs != config.epochs) or args.limit_train is not None
        if args.epochs is not None:
            config.epochs = args.epochs
        if args.limit_train is not None:
            config.limit_train = args.limit_train
        config.data_dir = args.data_dir
        config.data_source = args.data_source
        if args.steps_per_dispatch is not None:
            config.steps_per_dispatch = args.steps_per_dispatch
    return config


def _print_estimate(result: dict, as_json: bool) -> int:
    if jax.process_index() != 0:
        return 0
    if as_json:
        print(json.dumps(result))
    else:
        runs = f" ({result['runs']} runs, {result['runs_per_wave']} at a time)" if result["runs"] > 1 else ""
        print(f"{result['experiment']}{runs}: about {format_duration(result['total_seconds'])} for {result['epochs']} "
              f"epochs: {result['epoch_seconds']:.1f} s per epoch ({result['steps_per_epoch']} steps at "
              f"{1000 * result['step_seconds']:.1f} ms, evaluation {result['evaluation_seconds']:.1f} s"
              + _saves_text(result) + "), "
              f"startup {result['startup_seconds']:.1f} s" + _device_memory_text(result))
    return 0


def _saves_text(result: dict) -> str:
    """', checkpoints 0.4 s' (each run's, at the epoch's end and those within it), where it was timed."""
    if result["save_seconds"] is None:
        return ""
    return f", checkpoints {result['epoch_save_seconds']:.1f} s"


def _device_memory_text(result: dict) -> str:
    """', peak device memory 310 MiB of 139.8 GiB' where the backend counts it (GPU, TPU), else ''."""
    if result["device_peak_bytes"] is None or result["device_bytes_limit"] is None:
        return ""
    peak = result["device_peak_bytes"]
    peak_text = f"{peak / 2**30:.1f} GiB" if peak >= 2**30 else f"{peak / 2**20:.0f} MiB"
    return f", peak device memory {peak_text} of {result['device_bytes_limit'] / 2**30:.1f} GiB"


def _initialize_distributed(args):
    # Gloo gives the CPU backend cross-process collectives; GPU/TPU backends ignore this setting.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                               process_id=args.process_id)


def prepare_process(cpu_devices: int | None):
    """Before JAX starts: the host memory, compilation cache, GPU and CPU device settings of a training process."""
    runtime.keep_freed_host_memory()
    runtime.enable_compilation_cache()
    runtime.deterministic_gpu_ops()
    runtime.use_cpu_cores_as_devices(cpu_devices)


def _path_safe(assignment: str) -> str:
    """'schedule={"name": "cosine", "t_max": 5}' as 'schedule=name_cosine_t_max_5': a folder name
    without quotes, spaces or slashes."""
    return re.sub(r"=_", "=", re.sub(r"[^\w.=+-]+", "_", assignment)).rstrip("_")


def _workdir_name(experiment: str) -> str:
    """A registered experiment's name (net8k/net_bn), a config file's stem (tiny.py: tiny)."""
    return Path(experiment).stem if experiment.endswith(".py") else experiment


def group_runs(config: ml_collections.ConfigDict, seeds: list[int] | None, sweeps: list[tuple[str, list[str]]],
               workdir: str | None):
    """(configs, workdirs) of one run per combination of the sweeps' values and the seeds.

    Each swept value adds '-KEY=VALUE' to the workdir's name (letters, digits and . + - only); of
    the seeds, the config's own writes there and seed K to that name plus '-seedK', as
    scripts/reproduce.py names seeds. Without seeds or sweeps, the one run.
    """
    keys = [key for key, _ in sweeps]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise UserError(f"--sweep names {repeated[0]} twice: give all its values in one --sweep")
    if "seed" in keys:
        raise UserError("seeds are swept with --seeds, e.g. --seeds 0-7")
    configs, workdirs = [], []
    for values in itertools.product(*(values for _, values in sweeps)):
        swept = copy.deepcopy(config)
        assignments = [f"{key}={value}" for key, value in zip(keys, values)]
        try:
            config_lib.apply_overrides(swept, assignments)
        except UserError as error:
            raise UserError(str(error).replace("--set", "--sweep", 1)) from None
        base = None if workdir is None else workdir + "".join(f"-{_path_safe(item)}" for item in assignments)
        for seed in seeds or [swept.seed]:
            run = copy.deepcopy(swept)
            with run.unlocked():
                run.seed = seed
            configs.append(run)
            workdirs.append(base if seed == config.seed or base is None else f"{base}-seed{seed}")
    return configs, workdirs


def train_command(args) -> int:
    if not args.dry_run and args.json:
        raise UserError("--json goes with --dry-run (a training run writes its metrics to the workdir)")
    if args.workdir and args.dir:
        raise UserError("give --workdir (one experiment's) or --dir (DIR/<experiment> each), not both")
    if len(args.experiments) > 1 and args.workdir:
        raise UserError("several experiments write each to its own workdir: give --dir DIR, not --workdir")
    if not args.dry_run and not (args.workdir or args.dir):
        raise UserError("--workdir is required (or --dir, or --dry-run to estimate how long the run takes)")
    if args.seeds and (args.seed is not None or any(item.split("=", 1)[0].strip() == "seed" for item in args.set)):
        raise UserError("give the seeds once: --seeds, or --seed / --set seed=... for one run")
    if args.runs_per_device is not None and not (args.seeds or args.sweep or len(args.experiments) > 1):
        raise UserError("--runs-per-device goes with --seeds, --sweep or several experiments (a group of runs)")
    prepare_process(1 if args.distributed and args.cpu_devices is None else args.cpu_devices)
    if args.distributed:
        _initialize_distributed(args)
    configs, workdirs = [], []
    for experiment in dict.fromkeys(args.experiments):
        config = resolve_config(args, experiment)
        workdir = args.workdir if args.dir is None else str(Path(args.dir) / _workdir_name(config.experiment))
        experiment_configs, experiment_workdirs = group_runs(config, args.seeds, args.sweep, workdir)
        configs += experiment_configs
        workdirs += experiment_workdirs
    if args.dry_run:
        return _print_estimate(estimate(configs, args.runs_per_device), args.json)
    try:
        histories = train_group(configs, workdirs, force=args.force, runs_per_device=args.runs_per_device)
    except Interrupted as interruption:
        print(interruption, flush=True)
        return 128 + interruption.signum
    if jax.process_index() == 0:
        for config, workdir, history in zip(configs, workdirs, histories):
            if history:
                final = history[-1]
                summary = ", ".join(f"{name} accuracy {final[name]['accuracy']:.2f}% ({final[name]['correct']}/"
                                    f"{final[name]['total']})" for name in config.eval)
                note = " [shortened run: not a reproduction]" if config.shortened else ""
                epochs = f"{final['epoch']} epoch{'' if final['epoch'] == 1 else 's'}"
                where = f" ({workdir}, seed {config.seed})" if len(configs) > 1 else ""
                print(f"{config.experiment}{where}: after {epochs}, {summary}{note}")
        if len(configs) > 1:  # the group side by side: each recipe's mean and spread over its seeds
            print(compare.format_table(compare.compare(workdirs)))
    return 0


def config_command(args) -> int:
    """`jaxmnist config EXPERIMENT [--set ...] [--seed N] [--epochs N] [--json]`: every key of the run these
    arguments start, with the value its config.json records (checked and written as `jaxmnist train` does)."""
    config = resolve_config(args)
    check_run(config)
    text = recorded_text(config)
    if args.json:
        print(text, end="")
        return 0
    rows = [(key, value) for key, value in config_lib.dotted_items(json.loads(text))
            if not isinstance(value, dict) or not value]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value!r}")
    return 0
