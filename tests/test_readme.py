"""The README's commands: each `jaxmnist` line parses, and the GPU image's install line adds every
runtime dependency that is not jax, flax, optax or orbax."""

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from jaxmnist.cli import build_parser

pytestmark = pytest.mark.files_and_messages

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)
# What a GPU or TPU image brings and keeps: the install line must not replace them.
IMAGE_PACKAGES = {"jax", "flax", "optax", "orbax-checkpoint"}


def _commands(program: str) -> list[list[str]]:
    commands = []
    for line in "\n".join(BASH_BLOCKS).splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        command = []
        for word in [*lexer, ";"]:
            if word in (";", "&&", "||", "|"):
                if command and command[0] == program:
                    commands.append(command[1:])
                command = []
            else:
                command.append(word)
    return commands


JAXMNIST_COMMANDS = _commands("jaxmnist")


def test_the_readme_shows_the_commands_a_user_needs():
    assert len(JAXMNIST_COMMANDS) >= 15
    assert {words[0] for words in JAXMNIST_COMMANDS} >= {"train", "compare", "evaluate", "predict", "plot"}


@pytest.mark.parametrize("words", JAXMNIST_COMMANDS, ids=" ".join)
def test_every_jaxmnist_command_in_the_readme_parses(words):
    build_parser().parse_args(words)


def test_every_workdir_the_how_to_reads_is_one_its_commands_train():
    trained = {words[words.index("--workdir") + 1] for words in JAXMNIST_COMMANDS
               if words[0] == "train" and "--workdir" in words}
    read = {words[1] for words in JAXMNIST_COMMANDS
            if words[0] in ("evaluate", "predict", "plot") and words[1].startswith("workdirs/")}
    assert read and read <= trained


def test_the_gpu_image_line_installs_every_runtime_dependency_but_the_image_s_own():
    line = next(line for line in "\n".join(BASH_BLOCKS).splitlines() if line.startswith("pip install --no-deps -e ."))
    first, second = line.split("&&")
    assert shlex.split(first) == ["pip", "install", "--no-deps", "-e", "."]
    installed = {str(Requirement(word)) for word in shlex.split(second)[2:]}
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    expected = {str(Requirement(spec)) for spec in declared if Requirement(spec).name not in IMAGE_PACKAGES}
    assert installed == expected
