"""The notes service over time, on the real stack: its schema migrated once per deployment
however many workers start at once, and a database that restarts, goes away while serving, or
is not there yet when a worker starts. PostgreSQL clusters of the tests' own (logging every DDL
statement, and every lock wait), real worker processes. asyncio only: asyncpg and SQLAlchemy's
asyncio engine run on asyncio, and so does every server here."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path

import httpx
import pytest

from examples.test_notes import alembic

from .conftest import STOP_BOUND, Process, free_port, server
from .postgres import Cluster, cluster
from .test_real_stack import APP, GUNICORN
from .test_servers import ADDRESS_BIND, BIND

UVICORN_4 = ["uvicorn", APP, "--workers", "4", "--no-access-log", *BIND]
DEPLOYMENTS = {
    "uvicorn --workers 4": UVICORN_4,
    "gunicorn -k uvicorn_worker.UvicornWorker -w 4 --preload": [
        *GUNICORN,
        "-w",
        "4",
        "--preload",
        *ADDRESS_BIND,
    ],
}
# Every DDL statement the migrations run, as PostgreSQL logs it (log_statement = ddl).
DDL = ("CREATE TABLE alembic_version", "CREATE TABLE notes", "ALTER TABLE notes ADD COLUMN")
# Each DDL statement sleeps first, so that workers starting at once overlap in the migration.
SLOW_DDL = """
CREATE FUNCTION slow_ddl() RETURNS event_trigger LANGUAGE plpgsql AS
    $$ BEGIN PERFORM pg_sleep(0.3); END $$;
CREATE EVENT TRIGGER slow_ddl ON ddl_command_start EXECUTE FUNCTION slow_ddl();
"""


@pytest.fixture(scope="module")
def postgres() -> Generator[Cluster]:
    with cluster("log_statement=ddl", "log_lock_waits=on", "deadlock_timeout=100ms") as running:
        yield running


def started(process: Process, workers: int) -> list[str]:
    """Wait until every worker has its schema; what each said of it."""
    return [rest for _, rest in process.wait_said("schema at", workers, who="notes")]


def said(process: Process, what: str) -> list[str]:
    return [rest for _, rest in process.said(what, who="notes")]


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_a_fresh_database_is_migrated_once_however_many_workers_start(
    name: str, postgres: Cluster, tmp_path: Path
) -> None:
    database = postgres.create_database()
    postgres.psql(SLOW_DDL, database)
    log_start = len(postgres.log_text())
    environment = {"DATABASE_URL": postgres.url(database), "DB_POOL_SIZE": "2"}
    with server(DEPLOYMENTS[name], tmp_path, **environment) as process:
        schema = started(process, 4)
        created = httpx.post(process.url + "notes", json={"text": "first"}, timeout=STOP_BOUND)
        listed = httpx.get(process.url + "notes", timeout=STOP_BOUND).json()
        process.stop()
    log = postgres.log_text()[log_start:]
    for statement in DDL:
        assert log.count(statement) == 1, (statement, log)
    assert "already exists" not in log
    assert "duplicate key" not in log
    # The workers overlapped, and took turns: PostgreSQL saw them wait for the lock.
    assert "still waiting for ExclusiveLock on advisory lock" in log
    assert sorted(schema) == ["0002 (already there)"] * 3 + ["0002 (migrated from nothing)"]
    assert created.status_code == 201
    assert [note["text"] for note in listed] == ["first"]
    assert set(listed[0]) == {"id", "text", "created_at"}


@pytest.mark.parametrize("made_by", ["alembic upgrade 0001", "create_all, before migrations"])
def test_a_database_holding_notes_is_upgraded_at_startup_and_keeps_them(
    made_by: str, postgres: Cluster, tmp_path: Path
) -> None:
    database = postgres.create_database()
    url = postgres.url(database)
    if made_by == "alembic upgrade 0001":
        alembic(url, "upgrade", "0001")
    else:  # what the service's create_all made
        postgres.psql("CREATE TABLE notes (id SERIAL PRIMARY KEY, text TEXT NOT NULL)", database)
    postgres.psql("INSERT INTO notes (text) VALUES ('kept'), ('also kept')", database)
    with server(UVICORN_4, tmp_path, DATABASE_URL=url, DB_POOL_SIZE="2") as process:
        schema = started(process, 4)
        listed = httpx.get(process.url + "notes", timeout=STOP_BOUND).json()
        process.stop()
    before = "0001"
    assert sorted(schema) == ["0002 (already there)"] * 3 + [f"0002 (migrated from {before})"]
    assert [(note["id"], note["text"]) for note in listed] == [(1, "kept"), (2, "also kept")]
    assert all(note["created_at"] for note in listed)
    assert "0002 (head)" in alembic(url, "current")


def get_all(url: str, count: int) -> list[int]:
    return [httpx.get(url, timeout=STOP_BOUND).status_code for _ in range(count)]


def test_a_restart_while_idle_and_an_outage_while_serving_cost_no_request_and_no_worker(
    postgres: Cluster, tmp_path: Path
) -> None:
    database = postgres.create_database()
    url = postgres.url(database)
    with server(UVICORN_4, tmp_path, DATABASE_URL=url, DB_POOL_SIZE="2") as process:
        started(process, 4)
        notes = process.url + "notes"
        assert httpx.post(notes, json={"text": "n"}, timeout=STOP_BOUND).status_code == 201
        assert set(get_all(notes, 200)) == {200}  # every worker's pool holds connections
        postgres.stop()
        postgres.start()  # a fast restart: every pooled connection died with the old server
        after_restart = get_all(notes, 200)
        postgres.stop()  # an outage while serving
        during: list[tuple[int, float, str]] = []
        for _ in range(20):
            began = time.monotonic()
            response = httpx.get(notes, timeout=STOP_BOUND)
            during.append((response.status_code, time.monotonic() - began, response.text))
        postgres.start()
        after_outage = get_all(notes, 200)
        process.stop()
    assert set(after_restart) == {200}
    assert {status for status, _, _ in during} == {503}
    assert max(seconds for _, seconds, _ in during) < 5  # answered at once, not hung
    assert during[0][2] == '{"detail":"the database is unavailable; try again shortly"}'
    assert set(after_outage) == {200}
    assert len(said(process, "opened engine")) == 4  # the same four workers all along


def test_a_worker_started_during_an_outage_joins_when_the_database_returns(
    postgres: Cluster, tmp_path: Path
) -> None:
    database = postgres.create_database()
    environment = {"DATABASE_URL": postgres.url(database), "DB_CONNECT_RETRY_SECONDS": "30"}
    postgres.stop()
    try:
        with server(["uvicorn", APP, "--workers", "2", *BIND], tmp_path, **environment) as process:
            process.wait_said("database", 2, who="notes")  # each has tried, and waits
            postgres.start()
            started(process, 2)
            status = httpx.get(process.url + "notes", timeout=STOP_BOUND).status_code
            process.stop()
    finally:
        if postgres.popen is None:
            postgres.start()
    assert status == 200
    assert said(process, "database")[0].startswith("postgresql+asyncpg://postgres@127.0.0.1")
    assert "not reachable yet (ConnectionRefusedError); retrying" in process.text()


def test_an_unreachable_database_fails_the_start_naming_it(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://notes@127.0.0.1:{free_port()}/notes"  # nothing listens there
    environment = {"DATABASE_URL": url, "DB_CONNECT_RETRY_SECONDS": "1"}
    with server(["uvicorn", APP, *BIND], tmp_path, **environment) as process:
        code = process.wait_exit_unserved()
    assert code == 3  # uvicorn's "startup failed"
    assert (
        f"LazyApp(main) failed to start: ConnectionError: the database {url} could not be "
        "reached within 1 s" in process.text()
    )
    assert "check that it runs and that DATABASE_URL names it" in process.text()
