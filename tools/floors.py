"""The floors run: lazgi's dependencies at the lowest versions pyproject.toml declares for the
Python running this (anyio, and trio from the `trio` extra: each `>=` read as `==`), beside the
test dependencies that can be installed with them.

    python tools/floors.py requirements   # what to install, one requirement a line
    python tools/floors.py pytest-args    # what of the suite to run: the in-process part

Some test dependencies require a newer anyio than the floors: they are left out, with the
tests that need them (LEFT_OUT), and the run says so."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Each needs anyio newer than 4.4, and with it go the tests that import it.
LEFT_OUT = {
    "httpx2": ["tests/test_readme.py", "tests/recipes"],  # Starlette's TestClient
    "mcp": ["tests/test_readme.py", "tests/recipes"],
}
NOT_IN_PROCESS = ["tests/servers", "tests/frameworks"]


def floors() -> list[str]:
    declared = [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["trio"]]
    pins = []
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (lowest,) = [spec.version for spec in requirement.specifier if spec.operator == ">="]
            pins.append(f"{requirement.name}=={lowest}")
    return pins


def requirements() -> list[str]:
    pins = floors()
    pinned = {Requirement(pin).name for pin in pins}
    tests = [
        line
        for line in PROJECT["optional-dependencies"]["test"]
        if Requirement(line).name not in pinned | LEFT_OUT.keys()
    ]
    return [*pins, *tests]


def pytest_args() -> list[str]:
    ignored = sorted({path for paths in LEFT_OUT.values() for path in paths} | {*NOT_IN_PROCESS})
    return [f"--ignore={path}" for path in ignored]


if __name__ == "__main__":
    if sys.argv[1:] == ["requirements"]:
        print("\n".join(requirements()))
    elif sys.argv[1:] == ["pytest-args"]:
        print(" ".join(pytest_args()))
        print(
            f"*** floors run: {', '.join(floors())}; left out, needing a newer anyio: "
            f"{', '.join(LEFT_OUT)}, and the tests that use them",
            file=sys.stderr,
        )
    else:
        sys.exit(__doc__)
