"""constraints/: every pin `make` installs exists on the public index (scripts/check_pins.py)."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.files_and_messages

REPO = Path(__file__).resolve().parent.parent
CONSTRAINTS = sorted((REPO / "constraints").glob("py3.*.txt"))
_spec = importlib.util.spec_from_file_location("check_pins", REPO / "scripts" / "check_pins.py")
check_pins = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_pins)


def test_the_makefile_installs_from_constraint_files_this_check_reads():
    makefile = (REPO / "Makefile").read_text()
    assert [path.name for path in CONSTRAINTS] == ["py3.11.txt", "py3.12-jax0.11.txt"]
    assert all(f"constraints/{path.name}" in makefile for path in CONSTRAINTS)


@pytest.mark.parametrize("path", CONSTRAINTS, ids=lambda path: path.name)
def test_every_pin_is_a_public_release_not_a_local_build(path):
    pins = check_pins.read_pins(path)
    assert len(pins) > 40 and ("jax", "0.10.2" if path.name == "py3.11.txt" else "0.11.2") in pins
    assert [f"{name}=={version}" for name, version in pins if "+" in version] == []


def test_a_pin_needs_a_file_of_its_version_for_the_python_of_its_constraints_file():
    files = [{"filename": "jaxlib-0.10.2-cp311-cp311-manylinux_2_27_x86_64.whl"},
             {"filename": "jaxlib-0.10.2-cp312-cp312-manylinux_2_27_x86_64.whl", "yanked": True},
             {"filename": "tqdm-4.70.1.tar.gz"}]
    cp311, cp312 = check_pins.installable_tags((3, 11)), check_pins.installable_tags((3, 12))
    assert check_pins.pin_problem(files, "0.10.2", cp311) is None
    assert check_pins.pin_problem(files, "0.10.2", cp312) == "no wheel for this Python and platform among 1 files of 0.10.2"
    assert check_pins.pin_problem(files, "0.10.3", cp311) == "version 0.10.3 is not on the index"
    assert check_pins.pin_problem(files, "4.70.1", cp312) is None
    assert check_pins.pin_problem(files, "2.13.0+cpu", cp311).startswith("a local version")


def test_every_pin_resolves_on_the_public_index():
    try:
        problems = check_pins.check(CONSTRAINTS)
    except check_pins.IndexUnreachable as error:
        pytest.skip(f"the public index cannot be reached from here: {error}")
    assert problems == []
