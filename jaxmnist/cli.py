"""`jaxmnist` command line.

Argument parsing lives here; each command's work lives in the module named in
its `handler`, imported only when that command runs so `jaxmnist --help` stays
fast (JAX and TensorFlow take seconds to import).
"""

import argparse
import importlib
import logging
import os
import sys
import warnings

from jaxmnist import __version__, runtime  # no JAX import: `--help` stays fast
from jaxmnist.errors import RunWarning, UserError
from jaxmnist.workdir import filesystem_error


def _handler(spec: str):
    """Return a callable that imports `module:function` lazily and calls it with the parsed args."""

    def run(args):
        module_name, function_name = spec.split(":")
        return getattr(importlib.import_module(module_name), function_name)(args)

    return run


# Notebook 003's training augmentation, as `data show --augment` takes it.
AUGMENT_EXAMPLE = "random_resized_crop(scale=(0.8,1.2))|random_rotation(degrees=30)|to_tensor"

TRAIN_EPILOG = """\
what a run writes into its workdir:
  config.json     the resolved config (checked when the run is continued)
  metrics.jsonl   one row per epoch and per logged step: loss, accuracy, learning rate
  timing.jsonl    wall time per epoch; each process's seconds to its first step, devices and versions
  tensorboard/    the same scalars as TensorBoard events
  curves.png      loss, accuracy and learning rate per epoch (training at every logged step)
  checkpoints/    the latest saves (and the best by best_split's accuracy), to resume from
  .lock           held while a run uses the workdir (removed when it ends)
rerun the same command to resume; a complete run is reported and left as it is"""


def _add_data_commands(subparsers):
    data = subparsers.add_parser("data", help="prepare, inspect and look at the datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)

    prepare = data_sub.add_parser(
        "prepare", help="build the tfds datasets offline from the original IDX files")
    prepare.add_argument("--source", required=True,
                         help="folder with mnist/ and/or fashion_mnist/ (or the four IDX files of one dataset)")
    prepare.add_argument("--dataset", choices=["mnist", "fashion_mnist", "all"], default="all")
    prepare.add_argument("--data-dir", help="tfds data dir (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    prepare.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    prepare.add_argument("--allow-unofficial", action="store_true",
                         help="accept IDX files that are not the originals (e.g. a subset); structure is still checked")
    prepare.set_defaults(run=_handler("jaxmnist.data.prepare:prepare_command"))

    info = data_sub.add_parser("info", help="what is prepared where: splits, label counts, pixel mean/std")
    info.add_argument("--dataset", choices=["mnist", "fashion_mnist", "all"], default="all")
    info.add_argument("--data-dir")
    info.add_argument("--json", action="store_true")
    info.set_defaults(run=_handler("jaxmnist.data.prepare:info_command"))

    show = data_sub.add_parser("show", help="PNG grid of original vs augmented samples",
                               epilog=f"example:\n  jaxmnist data show --augment '{AUGMENT_EXAMPLE}' --out augmented.png",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("--dataset", choices=["mnist", "fashion_mnist"], default="mnist")
    show.add_argument("--split", default="test")
    show.add_argument("--augment", required=True,
                      help="preprocessing ops separated by '|' (jaxmnist/data/augment.py), see the example")
    show.add_argument("--n", type=int, default=8, help="number of images")
    show.add_argument("--variants", type=int, default=3, help="augmented draws per image")
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("--out", required=True, help="PNG file to write")
    show.add_argument("--data-dir")
    show.add_argument("--data-source", help="IDX folder to prepare from if the dataset is missing")
    show.set_defaults(run=_handler("jaxmnist.pictures:show_command"))


def _add_model_commands(subparsers):
    models = subparsers.add_parser("models", help="list the registry models with parameter counts")
    models.add_argument("--json", action="store_true")
    models.set_defaults(run=_handler("jaxmnist.report.model_tables:list_command"))

    summary = subparsers.add_parser("summary", help="per-layer table of one model, like torchsummary")
    summary.add_argument("name", metavar="NAME_OR_WORKDIR", help="a registry model name, or a run's workdir")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(run=_handler("jaxmnist.report.model_tables:summary_command"))

    port = subparsers.add_parser("import-torch", help="convert a PyTorch state_dict (.pt) into a checkpoint")
    port.add_argument("name", help="registry model name, e.g. def_net")
    port.add_argument("file", help="the .pt file written by torch.save(model.state_dict(), ...)")
    port.add_argument("--out", required=True, help="checkpoint directory to write")
    port.set_defaults(run=_handler("jaxmnist.torch_port:import_command"))


def _add_optim_commands(subparsers):
    schedule = subparsers.add_parser("schedule", help="print or plot a per-step learning-rate schedule")
    schedule.add_argument("spec", help="a run's workdir, an experiment name/path, or a schedule spec such as "
                                       "'cosine(lr=1e-3,t_max=1000)'")
    schedule.add_argument("--steps", type=int, help="how many optimizer updates (default for a workdir or an "
                                                    "experiment: the whole run, epochs x steps per epoch)")
    schedule.add_argument("--json", action="store_true")
    schedule.add_argument("--plot", metavar="FILE.png")
    schedule.set_defaults(run=_handler("jaxmnist.report.schedule:schedule_command"))


def _add_run_config_arguments(parser, several: bool = False):
    """The arguments that make a run's config: `train` (`several` experiments) and `config` take the same."""
    if several:
        parser.add_argument("experiments", nargs="+", metavar="experiment",
                            help="registered experiment name or path to a config .py file; several train as one "
                                 "group (each in DIR/<experiment> of --dir) where they differ only in their models' "
                                 "rates and their optimizers")
    else:
        parser.add_argument("experiment", help="registered experiment name or path to a config .py file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optimizer.learning_rate=0.01 (repeatable; "
                             "`jaxmnist config EXPERIMENT` lists every key)")
    parser.add_argument("--seed", type=int, help="the run's seed (as --set seed=N)")
    parser.add_argument("--epochs", type=int,
                        help="override the number of epochs (another number than the config's marks the run as "
                             "shortened)")
    parser.add_argument("--limit-train", type=int,
                        help="use only the first N training examples (marks the run as shortened)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="the folder of prepared datasets (tfds's data dir), where the data are looked for "
                             "first; default: $TFDS_DATA_DIR, else ~/tensorflow_datasets. A dataset not prepared "
                             "there is prepared into it from the IDX files of --data-source (default: "
                             "$JAXMNIST_DATA), else downloaded by tfds where it is installed and there is a network")
    parser.add_argument("--data-source", metavar="DIR",
                        help="IDX folder to prepare from if the dataset is missing (default: $JAXMNIST_DATA)")


def _add_train_commands(subparsers):
    train = subparsers.add_parser("train", help="train an experiment; rerunning with the same workdir resumes",
                                  epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--workdir", help="where the run writes (required unless --dry-run or --dir)")
    train.add_argument("--dir", metavar="DIR", help="instead of --workdir: each experiment writes to DIR/<experiment> "
                                                    "(as scripts/reproduce.py lays its runs out)")
    _add_run_config_arguments(train, several=True)
    train.add_argument("--force", action="store_true",
                       help="continue a workdir even though its saved config differs, where its checkpoints fit "
                            "this config's model and optimizer state")
    train.add_argument("--cpu-devices", type=runtime.device_count_argument, metavar="N",
                       help="on a CPU host, split each batch over N devices (default: one per core this process "
                            "may use; 1 with --distributed). GPU and TPU runs use their accelerators")
    train.add_argument("--steps-per-dispatch", type=runtime.steps_per_dispatch_argument, metavar="K",
                       help="train steps per compiled program: a whole number or 'epoch' (default: 1 on CPU, "
                            "an epoch on GPU/TPU). Logging, checkpoints and SIGTERM take effect between "
                            "programs, so log_every_steps and checkpoint_every_steps round up to whole programs")
    train.add_argument("--seeds", type=runtime.seeds_argument, metavar="SEEDS",
                       help="train one run per seed, e.g. 0-7 or 1,4,9, as one group whose runs share each step's "
                            "program: the config's seed writes to --workdir, seed K to WORKDIR-seedK (ordinary "
                            "workdirs; compare shows them as seeds of one experiment)")
    train.add_argument("--sweep", type=runtime.sweep_argument, action="append", default=[],
                       metavar="KEY=V1,V2,...",
                       help="train one run per value of an optimizer, schedule or model override key "
                            "(repeatable: every combination, crossed with --seeds) as one group: the run with VALUE "
                            "writes to WORKDIR-KEY=VALUE, e.g. --sweep optimizer.learning_rate=0.01,0.05 or "
                            "--sweep model_overrides.dropout_rate=0.25,0.5")
    train.add_argument("--runs-per-device", type=runtime.device_count_argument, metavar="N",
                       help="with --seeds, --sweep or several experiments: at most N runs on one device at once "
                            "(default: 1 on CPU, where separate steps are faster; every run on GPU/TPU, halved "
                            "while a device runs out of memory); a larger group trains in waves")
    train.add_argument("--dry-run", action="store_true",
                       help="train nothing: time a short warm-up here (setup and compilation, a few dozen steps, "
                            "the evaluations) and print the estimated seconds per epoch and for the whole run; "
                            "no workdir is needed or written")
    train.add_argument("--json", action="store_true", help="with --dry-run: the estimate as JSON")
    train.add_argument("--distributed", action="store_true",
                       help="multi-process run: call jax.distributed.initialize() (arguments below, "
                            "or detected from the cluster environment)")
    train.add_argument("--coordinator", help="with --distributed: host:port of process 0")
    train.add_argument("--num-processes", type=int, help="with --distributed")
    train.add_argument("--process-id", type=int, help="with --distributed")
    train.set_defaults(run=_handler("jaxmnist.train.command:train_command"))

    config = subparsers.add_parser("config", help="every config key of a run and the value its config.json "
                                                  "records: what --set can change")
    _add_run_config_arguments(config)
    config.add_argument("--json", action="store_true", help="the config.json a run writes")
    config.set_defaults(steps_per_dispatch=None, run=_handler("jaxmnist.train.command:config_command"))


def _add_experiment_commands(subparsers):
    listing = subparsers.add_parser("experiments", help="list the experiments with their notebook reference numbers")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_handler("jaxmnist.report.reference:list_command"))

    compare = subparsers.add_parser(
        "compare", help="our runs next to the notebooks' numbers (seeds of one experiment, each once: mean ± std)")
    compare.add_argument("workdirs", nargs="+", metavar="WORKDIR")
    compare.add_argument("--json", action="store_true")
    compare.add_argument("--plot", metavar="FILE.png", help="also overlay our per-epoch curves on the notebook's")
    compare.set_defaults(run=_handler("jaxmnist.report.compare:compare_command"))

    plot = subparsers.add_parser("plot", help="the notebooks' pictures for one run")
    plot.add_argument("workdir")
    plot.add_argument("--kind", required=True, choices=["curves", "errors", "predictions", "feature-maps", "lr"],
                      help="curves/errors: notebook 001's plot_graph; predictions: 001's predicted test images; "
                           "feature-maps: 004's conv/pool maps; lr: 003's learning rate per update")
    plot.add_argument("--out", required=True, metavar="FILE.png")
    plot.add_argument("--n", type=int, default=12, help="predictions: number of test images")
    plot.add_argument("--index", type=int, help="feature-maps: which training image (default: the first "
                                                 "labelled 5, as notebook 004's '5')")
    plot.add_argument("--data-dir", help="default: the run's")
    plot.add_argument("--data-source", help="IDX folder to prepare from if the dataset is missing")
    plot.set_defaults(run=_handler("jaxmnist.pictures:plot_command"))


def _add_model_use_commands(subparsers):
    evaluate = subparsers.add_parser(
        "evaluate", help="loss, accuracy, per-class accuracy and confusion matrix of a trained or imported model")
    evaluate.add_argument("path", metavar="WORKDIR_OR_CHECKPOINT",
                          help="a training workdir (or its checkpoints/N), or a directory written by import-torch")
    evaluate.add_argument("--split", default="test",
                          help="one of the config's eval names, or a split of the dataset such as train[48000:] "
                               "(preprocessed as the 'test' eval); default: test")
    evaluate.add_argument("--experiment", help="the experiment giving dataset, preprocessing and loss "
                                               "(needed for an imported checkpoint; its model must match)")
    evaluate.add_argument("--step", type=int, help="a saved step of the workdir (default: the latest)")
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--confusion", metavar="FILE.png", help="also draw the confusion matrix")
    evaluate.add_argument("--data-dir", help="default: the run's")
    evaluate.add_argument("--data-source", help="IDX folder to prepare from if the dataset is missing")
    evaluate.set_defaults(run=_handler("jaxmnist.inference.evaluate:evaluate_command"))

    predict = subparsers.add_parser("predict", help="predicted class and its probability for each image")
    predict.add_argument("path", metavar="WORKDIR_OR_CHECKPOINT")
    predict.add_argument("images", nargs="+", metavar="IMAGES",
                         help="28x28 grayscale .png files, a .npy of shape (N,28,28[,1]) (uint8, or floats in "
                              "[0,1]), or a split slice such as test[:16]")
    predict.add_argument("--experiment", help="as for evaluate")
    predict.add_argument("--step", type=int, help="a saved step of the workdir (default: the latest)")
    predict.add_argument("--json", action="store_true")
    predict.add_argument("--data-dir", help="default: the run's")
    predict.add_argument("--data-source", help="IDX folder to prepare from if the dataset is missing")
    predict.set_defaults(run=_handler("jaxmnist.inference.predict:predict_command"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxmnist",
        description="JAX/Flax reimplementation of five PyTorch MNIST / Fashion-MNIST notebooks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(subparsers)
    _add_model_commands(subparsers)
    _add_optim_commands(subparsers)
    _add_train_commands(subparsers)
    _add_experiment_commands(subparsers)
    _add_model_use_commands(subparsers)
    return parser


def _show_run_warnings_as_one_line():
    """A RunWarning is news for the user, not for a developer: `warning: ...`, without file and line."""
    show = warnings.showwarning

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RunWarning):
            print(f"warning: {message}", file=file or sys.stderr, flush=True)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = show_warning


def _fail(error: UserError) -> int:
    print(f"error: {error}", file=sys.stderr)
    # orbax writes a checkpoint's arrays concurrently: when one write fails (a full disk) the others
    # fail too, and asyncio would log each one's traceback at exit, after the one error line.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    return error.exit_code


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    _show_run_warnings_as_one_line()
    try:
        result = args.run(args)
        sys.stdout.flush()  # here, where a reader gone away is caught, not at the interpreter's exit
    except UserError as error:
        return _fail(error)
    except BrokenPipeError:  # e.g. `jaxmnist models | head`; an OSError, so caught before the others
        # What is still buffered goes nowhere, as Python's documentation of SIGPIPE advises.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # a full disk or a read-only folder is the user's to fix; anything else is a bug
        user_error = filesystem_error(error, "a file")
        if user_error is None:
            raise
        return _fail(user_error)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
