"""Checks that every pin in constraints/ exists on the public package index, without downloading wheels.

For each `name==version` line it reads the index's JSON page of the project (PEP 691) and asks
for a file of that version that installs on the constraints file's Python on this platform: a
wheel with a matching tag, or a source archive. A local version (`2.13.0+cpu`) exists only in
some machine's wheel folder, never on the index, and fails. Exit 0 when every pin is found,
1 when some are not, 2 when the index cannot be reached.

    python scripts/check_pins.py                 # every constraints/py3.*.txt
    python scripts/check_pins.py constraints/py3.12-jax0.11.txt --index https://pypi.org/simple
"""

import argparse
import concurrent.futures
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

from packaging import tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
PUBLIC_INDEX = "https://pypi.org/simple"
SOURCE_ARCHIVES = (".tar.gz", ".zip")


class IndexUnreachable(Exception):
    pass


def read_pins(path: Path) -> list[tuple[str, str]]:
    """(name, version) of each `name==version` line; anything else in a constraints file is an error."""
    pins = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if not match:
            raise ValueError(f"{path}:{number}: not a name==version pin: {line!r}")
        pins.append((match.group(1), match.group(2)))
    return pins


def python_of(path: Path) -> tuple[int, int]:
    """The Python a constraints file is for, from its name: py3.12-jax0.11.txt -> (3, 12)."""
    match = re.match(r"py(\d+)\.(\d+)", path.name)
    if not match:
        raise ValueError(f"{path}: the name must start with the Python version, as py3.11.txt does")
    return int(match.group(1)), int(match.group(2))


def installable_tags(python: tuple[int, int]) -> set:
    """Wheel tags that install on `python` on this machine's platform (manylinux x86_64 here)."""
    platforms = list(tags.platform_tags())
    return set(tags.cpython_tags(python, platforms=platforms)) | set(
        tags.compatible_tags(python, f"cp{python[0]}{python[1]}", platforms))


def project_files(index: str, name: str) -> list[dict]:
    request = urllib.request.Request(f"{index.rstrip('/')}/{canonicalize_name(name)}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["files"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise IndexUnreachable(f"{index}: HTTP {error.code} for {name}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise IndexUnreachable(f"{index} cannot be reached ({getattr(error, 'reason', error)})") from None


def pin_problem(files: list[dict], version: str, wanted_tags: set) -> str | None:
    """None if some file of `version` installs with `wanted_tags`, else what is missing."""
    if Version(version).local:
        return "a local version: it exists in a machine's wheel folder, never on a public index"
    of_version = []
    for file in files:
        filename = file["filename"]
        if file.get("yanked"):
            continue
        if filename.endswith(".whl"):
            _, wheel_version, _, wheel_tags = parse_wheel_filename(filename)
            if wheel_version == Version(version):
                of_version.append(filename)
                if wheel_tags & wanted_tags:
                    return None
        elif filename.endswith(SOURCE_ARCHIVES) and re.search(rf"-{re.escape(version)}\.(tar\.gz|zip)$", filename):
            return None
    if of_version:
        return f"no wheel for this Python and platform among {len(of_version)} files of {version}"
    return f"version {version} is not on the index"


def check(paths: list[Path], index: str = PUBLIC_INDEX) -> list[str]:
    """One line per pin that does not resolve on `index`; raises IndexUnreachable."""
    jobs = [(path, name, version, python_of(path)) for path in paths for name, version in read_pins(path)]
    names = sorted({name for _, name, _, _ in jobs})
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        files = dict(zip(names, pool.map(lambda name: project_files(index, name), names)))
    problems = []
    for path, name, version, python in jobs:
        problem = pin_problem(files[name], version, installable_tags(python))
        if problem:
            problems.append(f"{path.name}: {name}=={version}: {problem}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("constraints", nargs="*", type=Path,
                        default=sorted((REPO / "constraints").glob("py3.*.txt")))
    parser.add_argument("--index", default=PUBLIC_INDEX, help="a PEP 691 simple index (default: PyPI)")
    args = parser.parse_args(argv)
    try:
        problems = check(args.constraints, args.index)
    except IndexUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    count = sum(len(read_pins(path)) for path in args.constraints)
    print(f"{count - len(problems)} of {count} pins resolve on {args.index}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
