"""The command line's own help and messages: --version, --seed, the help texts' examples, no TensorFlow where
no dataset is built, and TensorFlow's startup lines kept out of the terminal."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import jaxmnist
from jaxmnist import cli
from jaxmnist.data import augment, prepare
from jaxmnist.errors import UserError
from jaxmnist.train import command

from conftest import needs_tfds

pytestmark = pytest.mark.files_and_messages

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "tests" / "configs" / "tiny_lenet_bn.py"


def _subcommand_parser(*names) -> argparse.ArgumentParser:
    parser = cli.build_parser()
    for name in names:
        subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
        parser = subparsers.choices[name]
    return parser


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out == f"jaxmnist {jaxmnist.__version__}\n"


def test_data_show_help_example_parses():
    help_text = _subcommand_parser("data", "show").format_help()
    assert f"--augment '{cli.AUGMENT_EXAMPLE}'" in help_text
    augment.parse(cli.AUGMENT_EXAMPLE)


@pytest.mark.fast
def test_train_help_says_what_a_run_writes():
    help_text = _subcommand_parser("train").format_help()
    for name in ("config.json", "metrics.jsonl", "timing.jsonl", "tensorboard/", "curves.png", "checkpoints/",
                 ".lock"):
        assert f"\n  {name} " in help_text


def _train_args(*argv) -> argparse.Namespace:
    return cli.build_parser().parse_args(["train", str(CONFIG), "--workdir", "unused", *argv])


def test_seed_option_is_set_seed():
    by_option = command.resolve_config(_train_args("--seed", "7"), str(CONFIG))
    by_set = command.resolve_config(_train_args("--set", "seed=7"), str(CONFIG))
    assert by_option.seed == 7 and by_option.to_json() == by_set.to_json()
    with pytest.raises(UserError, match="--seed or --set seed"):
        command.resolve_config(_train_args("--seed", "7", "--set", "seed=8"), str(CONFIG))


def test_commands_that_build_no_dataset_import_no_tensorflow(fixture_data_dir, tmp_path):
    for dataset in prepare.DATASETS:  # decoded once, as the first run on a prepared data dir does
        for split in prepare.SPLITS:
            prepare.load_split(dataset, split, str(fixture_data_dir))
    # The commands that compute nothing with JAX come first: the ones after them import it.
    without_jax = [["experiments"], ["compare", str(REPO / "docs" / "runs" / "net8k")],
                   ["plot", str(REPO / "docs" / "runs" / "net8k" / "net_bn"), "--kind", "curves",
                    "--out", str(tmp_path / "curves.png")],
                   ["data", "info", "--data-dir", str(fixture_data_dir)],
                   ["data", "info", "--data-dir", str(tmp_path / "nothing_prepared")], ["models"]]
    run = str(REPO / "docs" / "runs" / "net8k" / "net_bn")
    with_jax = [["summary", "lenet"], ["schedule", "net8k/net_bn", "--steps", "3"], ["summary", run],
                ["schedule", run], ["config", "net8k/net_bn"]]
    script = (
        "import contextlib, io, json, sys\n"
        "from jaxmnist import cli\n"
        "imported = []\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert cli.main(argv) == 0, argv\n"
        "    imported.append([name for name in ('jax', 'tensorflow') if name in sys.modules])\n"
        "print(json.dumps(imported))\n")
    result = subprocess.run([sys.executable, "-c", script, json.dumps(without_jax + with_jax)], capture_output=True,
                            text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.splitlines()[-1])
    assert imported == [[]] * len(without_jax) + [["jax"]] * len(with_jax)


@needs_tfds
def test_importing_tensorflow_prints_none_of_its_startup_lines():
    env = {key: value for key, value in os.environ.items()
           if key not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    result = subprocess.run([sys.executable, "-c", "from jaxmnist.data import prepare; prepare._quiet_tensorflow()"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_reader_that_goes_away_ends_a_listing_quietly():
    process = subprocess.Popen([sys.executable, "-m", "jaxmnist.cli", "models"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=REPO)
    process.stdout.close()  # gone before the first line, as `| head -1` can be
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0 and stderr == ""
