"""`jaxmnist train`: the config from the command line, then a run or (--dry-run) an estimate."""

import json

import jax
import ml_collections

from jaxmnist import config as config_lib
from jaxmnist import runtime
from jaxmnist.errors import UserError
from jaxmnist.train.loop import Interrupted, train_and_evaluate
from jaxmnist.train.progress import estimate, format_duration
from jaxmnist.train.run_config import check_run, recorded_text


def resolve_config(args) -> ml_collections.ConfigDict:
    """The run's config from `jaxmnist train`'s arguments: the experiment, then --set, --seed and the rest."""
    config = config_lib.load_experiment(args.experiment)
    seed = getattr(args, "seed", None)
    if seed is not None:
        if any(override.split("=", 1)[0].strip() == "seed" for override in args.set):
            raise UserError("give the seed once: --seed or --set seed=..., not both")
        args.set = [*args.set, f"seed={seed}"]
    config_lib.apply_overrides(config, args.set)
    with config.unlocked():
        if args.epochs is not None:
            config.epochs = args.epochs
        if args.limit_train is not None:
            config.limit_train = args.limit_train
        # A run cut short is never presented as a reproduction of the notebook.
        config.shortened = args.epochs is not None or args.limit_train is not None
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
        print(f"{result['experiment']}: about {format_duration(result['total_seconds'])} for {result['epochs']} "
              f"epochs: {result['epoch_seconds']:.1f} s per epoch ({result['steps_per_epoch']} steps at "
              f"{1000 * result['step_seconds']:.1f} ms, evaluation {result['evaluation_seconds']:.1f} s), "
              f"startup {result['startup_seconds']:.1f} s")
    return 0


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


def train_command(args) -> int:
    if not args.dry_run and args.json:
        raise UserError("--json goes with --dry-run (a training run writes its metrics to the workdir)")
    if not args.dry_run and not args.workdir:
        raise UserError("--workdir is required (or --dry-run to estimate how long the run takes)")
    prepare_process(1 if args.distributed and args.cpu_devices is None else args.cpu_devices)
    if args.distributed:
        _initialize_distributed(args)
    config = resolve_config(args)
    if args.dry_run:
        return _print_estimate(estimate(config), args.json)
    try:
        history = train_and_evaluate(config, args.workdir, force=args.force)
    except Interrupted as interruption:
        print(interruption, flush=True)
        return 128 + interruption.signum
    if jax.process_index() == 0 and history:
        final = history[-1]
        summary = ", ".join(f"{name} accuracy {final[name]['accuracy']:.2f}% ({final[name]['correct']}/"
                            f"{final[name]['total']})" for name in config.eval)
        note = " [shortened run: not a reproduction]" if config.shortened else ""
        epochs = f"{final['epoch']} epoch{'' if final['epoch'] == 1 else 's'}"
        print(f"{config.experiment}: after {epochs}, {summary}{note}")
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
