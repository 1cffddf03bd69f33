"""The notes service (examples.main:app) on the real stack: FastAPI, SQLAlchemy's asyncio
engine and asyncpg, on a PostgreSQL cluster of the test's own, under several workers and load.
Each worker opens its own engine after the fork; 5,000 requests at concurrency 64, half
POST /notes and half GET /notes, all succeed; on SIGTERM every connection is closed by the
app (PostgreSQL logs no `unexpected EOF`), and none is left. asyncio only: asyncpg and
SQLAlchemy's asyncio engine run on asyncio, and so does every server here."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Generator
from pathlib import Path

import httpx
import pytest

from .conftest import STOP_BOUND, Process, server
from .postgres import Cluster, cluster
from .test_servers import ADDRESS_BIND, BIND

REQUESTS = 2_500  # of each kind
APP = "examples.main:app"
GUNICORN = ["gunicorn", APP, "-k", "uvicorn_worker.UvicornWorker"]
DEPLOYMENTS = {
    "uvicorn --workers 4": (["uvicorn", APP, "--workers", "4", "--no-access-log", *BIND], 4),
    "gunicorn -k uvicorn_worker.UvicornWorker -w 4 --preload": (
        [*GUNICORN, "-w", "4", "--preload", *ADDRESS_BIND],
        4,
    ),
    "granian --interface asgi --workers 2": (
        ["granian", APP, "--interface", "asgi", "--workers", "2", "--no-log", *BIND],
        2,
    ),
}


@pytest.fixture(scope="module")
def postgres() -> Generator[Cluster]:
    with cluster() as running:
        yield running


def ab(url: str, *options: str) -> subprocess.Popen[str]:
    """Apache Bench with keep-alive, at concurrency 32, REQUESTS requests; -l: the responses'
    lengths differ (ids grow, and so does the list), which is not a failure."""
    return subprocess.Popen(
        ["ab", "-q", "-k", "-l", "-c", "32", "-n", str(REQUESTS), *options, url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def assert_all_succeeded(report: str) -> None:
    assert f"Complete requests:      {REQUESTS}" in report, report
    assert "Failed requests:        0" in report, report
    assert "Non-2xx responses" not in report, report


def wait_for_no_connections(postgres: Cluster, database: str) -> int:
    deadline = time.monotonic() + STOP_BOUND  # backends end just after their client's Terminate
    while (left := postgres.connections(database)) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling with a bound, not synchronising
    return left


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_load_on_postgresql_under_several_workers_with_no_error_and_clean_disconnects(
    name: str, postgres: Cluster, tmp_path: Path
) -> None:
    args, workers = DEPLOYMENTS[name]
    database = postgres.create_database()
    body = tmp_path / "note.json"
    body.write_text(json.dumps({"text": "load"}))
    log_start = len(postgres.log_text())
    environment = {"DATABASE_URL": postgres.url(database), "DB_POOL_SIZE": "5"}
    with server(args, tmp_path, **environment) as process:
        process.wait_ready()
        notes = process.url + "notes"
        posts = ab(notes, "-p", str(body), "-T", "application/json")
        gets = ab(notes)
        reports = [load.communicate(timeout=300)[0] for load in (posts, gets)]
        listed = httpx.get(notes, timeout=30).json()
        code = process.stop()
    for report in reports:
        assert_all_succeeded(report)
    assert len(listed) == REQUESTS
    assert [note["id"] for note in listed] == sorted({note["id"] for note in listed})
    assert code in (0, -15), process.text()
    opened = [pid for pid, _ in process.said("opened engine", who="notes")]
    disposed = [pid for pid, _ in process.said("disposed engine", who="notes")]
    assert_one_engine_per_worker(process, opened, disposed, workers)
    log = postgres.log_text()[log_start:]
    assert "unexpected EOF on client connection" not in log
    assert f"database={database}" in log
    assert "disconnection:" in log
    assert wait_for_no_connections(postgres, database) == 0


def assert_one_engine_per_worker(
    process: Process, opened: list[int], disposed: list[int], workers: int
) -> None:
    """Each worker opened its own engine, after the fork (never the master), and disposed it."""
    assert len(opened) == len(set(opened)) == workers, process.text()
    assert process.popen.pid not in opened
    assert sorted(disposed) == sorted(opened), process.text()
