"""The CPython interpreters `make test` runs the suite on: every one of 3.11 or newer found on
PATH (python3.N, python3.Nt) or among pyenv's, one per version, a free-threaded build counting as
a version of its own. Prints `VERSION=PATH` words, oldest first, for the Makefile.

A version that pyproject.toml's classifiers claim but this machine lacks is skipped, loudly, on
standard error; where CI is set, a missing one fails instead: CI machines have them all."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
OLDEST = (3, 11)
ASK = "import sys, sysconfig; print(sys.implementation.name, *sys.version_info[:2], "
ASK += "int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))))"


def candidates() -> list[str]:
    found = [sys.executable]
    for minor in range(OLDEST[1], 40):
        for suffix in ("", "t"):
            if path := shutil.which(f"python3.{minor}{suffix}"):
                found.append(path)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        found += sorted(str(path) for path in pyenv.glob("3.*/bin/python3"))
    return found


def version(path: str) -> tuple[int, int, bool] | None:
    """(major, minor, free-threaded) of a CPython at `path`, or None for anything else."""
    try:
        said = subprocess.run(
            [path, "-c", ASK], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None  # a pyenv shim for a version not selected, say
    if len(said) != 4 or said[0] != "cpython":
        return None
    return int(said[1]), int(said[2]), said[3] == "1"


def claimed() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pattern = re.compile(r"Programming Language :: Python :: (3\.\d+)$")
    return [m[1] for c in project["classifiers"] if (m := pattern.match(c))]


def main() -> int:
    interpreters: dict[tuple[int, int, bool], str] = {}
    for path in candidates():
        found = version(path)
        if found is not None and found[:2] >= OLDEST:
            interpreters.setdefault(found, path)
    names = {key: f"{key[0]}.{key[1]}{'t' if key[2] else ''}" for key in interpreters}
    missing = [wanted for wanted in claimed() if wanted not in names.values()]
    for wanted in missing:
        print(
            f"*** SKIPPED: Python {wanted} is claimed by pyproject.toml but not installed here, "
            f"so make test does not run the suite on it (install it, e.g. pyenv install {wanted})",
            file=sys.stderr,
        )
    if missing and os.environ.get("CI"):
        print("*** CI must run every claimed Python", file=sys.stderr)
        return 1
    print(" ".join(f"{names[key]}={interpreters[key]}" for key in sorted(interpreters)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
