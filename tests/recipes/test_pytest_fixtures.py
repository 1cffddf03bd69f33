"""README recipe 6's pytest fixtures, run as a user runs them: in a pytest session of their own
(fixtures_session/, whose conftest.py takes the fixtures from the README), so that their
session scope is the whole session. Each session is a subprocess, bounded and killed on timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
HERE = Path(__file__).parent / "fixtures_session"
TESTS = str(HERE / "session_tests.py")
TRAP_TESTS = str(HERE / "trap_tests.py")


def pytest_session(tmp_path: Path, *args: str) -> tuple[int, str, list[dict[str, Any]]]:
    """Runs pytest on `args`; returns its exit status, its output, and what the tests recorded."""
    record = tmp_path / "record.jsonl"
    record.touch()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--no-cov", "-q", *args],
        cwd=ROOT,
        env={"RECIPE_RECORD": str(record), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    return done.returncode, done.stdout + done.stderr, lines


def test_one_app_per_session_and_one_per_test_on_each_backend(tmp_path: Path) -> None:
    status, output, lines = pytest_session(tmp_path, TESTS)
    assert status == 0, output
    assert "9 passed, 1 skipped" in output
    assert all(line["ran"] == line["asked"] for line in lines)  # each on the loop it asked for
    by = {
        (test, backend): [
            line["answer"] for line in lines if (line["test"], line["asked"]) == (test, backend)
        ]
        for test in ("session", "fresh", "asyncio only")
        for backend in ("asyncio", "trio")
    }
    for backend in ("asyncio", "trio"):
        session, fresh = by["session", backend], by["fresh", backend]
        assert (len(session), len(set(session))) == (2, 1)  # one app for both tests
        assert (len(fresh), len(set(fresh))) == (2, 2)  # one app each
        assert not set(session) & set(fresh)
        assert session[0].startswith("one client for every request")
    assert by["session", "asyncio"] != by["session", "trio"]
    assert (by["asyncio only", "asyncio"], by["asyncio only", "trio"]) == ([None], [])


# Each trap, run after session_tests.py: the message of the guard and how many tests it fails.
TRAPS = {
    # a test parametrizing anyio_backend to asyncio, while session_app holds trio's loop
    "labelled_asyncio": ("this test asked for asyncio but runs on trio", 1),
    # a session-scoped fixture not naming anyio_backend: it holds asyncio's loop for the
    # session, and every one of the six trio tests runs on it
    "unbound": ("this test asked for trio but runs on asyncio", 6),
}


@pytest.mark.parametrize("trap", TRAPS)
def test_the_guard_fails_every_test_a_trap_runs_on_another_loop(tmp_path: Path, trap: str) -> None:
    message, failed = TRAPS[trap]
    selected = f"session_tests or {trap}"
    status, output, lines = pytest_session(tmp_path, TESTS, TRAP_TESTS, "-k", selected)
    assert status == 1
    assert output.count(message) == failed
    assert all(line["ran"] == line["asked"] for line in lines)  # no test body ran on the wrong one
