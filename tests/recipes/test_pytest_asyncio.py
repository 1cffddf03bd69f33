"""README recipe 6's pytest-asyncio fixtures, run as their users run them: pytest sessions of
their own with the recipe's settings (asyncio_session/pyproject.toml), bounded and killed on
timeout, on SQLite and on a PostgreSQL cluster of the test's own. Sessions per test: one app for
the session, a rollback per test, a fresh app where asked for; and the trap the settings avoid,
a test on a loop of its own, caught by the recipe's guard (asyncpg's own error without it).
asyncio only: pytest-asyncio, SQLAlchemy's asyncio engine, aiosqlite and asyncpg are."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Generator
from contextlib import closing
from pathlib import Path

import pytest

from ..servers.postgres import Cluster, cluster

ROOT = Path(__file__).parents[2]
HERE = Path(__file__).parent / "asyncio_session"


@pytest.fixture(scope="module")
def postgres() -> Generator[Cluster]:
    with cluster() as running:
        yield running


class Database:
    def __init__(self, url: str, count: str) -> None:
        self.url = url
        self.count_notes = count

    def notes(self, postgres: Cluster | None) -> int:
        if postgres is None:
            with closing(sqlite3.connect(self.count_notes)) as db:
                return int(db.execute("SELECT count(*) FROM notes").fetchone()[0])
        return int(postgres.psql("SELECT count(*) FROM notes", self.count_notes))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Generator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "notes.db"
        yield Database(f"sqlite+aiosqlite:///{path}", str(path))
    else:
        postgres: Cluster = request.getfixturevalue("postgres")
        name = postgres.create_database()
        yield Database(postgres.url(name), name)


def pytest_asyncio_session(url: str, *args: str) -> tuple[int, str]:
    """Runs pytest with the recipe's settings on `args`; returns its status and its output."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(HERE / "pyproject.toml"), "-p", "asyncio",
         "-p", "no:cacheprovider", "-q", *args],
        cwd=ROOT, env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_one_app_per_session_a_rollback_per_test_and_a_fresh_app_where_asked(
    database: Database, request: pytest.FixtureRequest
) -> None:
    status, output = pytest_asyncio_session(database.url, str(HERE / "notes_tests.py"), "-s")
    assert status == 0, output
    assert "3 passed" in output
    # The session's composition root and the fresh app's: two, not one per test.
    assert output.count("opened engine") == output.count("disposed engine") == 2
    postgres = request.getfixturevalue("postgres") if "postgresql" in database.url else None
    assert database.notes(postgres) == 0  # every test's notes were rolled back


def test_a_test_on_another_loop_than_the_app_fails_loudly_naming_the_fix(
    database: Database,
) -> None:
    status, output = pytest_asyncio_session(
        database.url, str(HERE / "loop_traps.py"), "-k", "test_guarded"
    )
    assert status == 1, output
    assert "this test runs on another event loop than the app it calls" in output
    assert "asyncio_default_test_loop_scope = 'session'" in output


def test_without_the_guard_asyncpg_fails_attached_to_a_different_loop(postgres: Cluster) -> None:
    url = postgres.url(postgres.create_database())
    status, output = pytest_asyncio_session(url, str(HERE / "loop_traps.py"), "-k", "unguarded")
    assert status == 1, output
    assert "attached to a different loop" in output
