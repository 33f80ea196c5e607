"""The package imports downwards and in no circle: the import-linter contracts of pyproject.toml."""

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.files_and_messages

REPO = Path(__file__).resolve().parent.parent


def test_every_import_contract_of_the_package_is_kept():
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    result = subprocess.run([lint_imports, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [contract["name"] for contract in contracts if f"{contract['name']} KEPT" not in result.stdout] == []
