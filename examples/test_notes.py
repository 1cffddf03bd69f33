"""Testing the notes service (main.py) the lazgi way: pytest, httpx.ASGITransport, and
`async with lazgi.lifespan(app)` to run the composition root around each test, on a fresh
SQLite database each time; and its migrations, from the command line and at startup.

    pytest examples/test_notes.py

SQLAlchemy's asyncio engine runs on asyncio only, so these tests do too. To swap one
dependency and keep the real database, build the app with `create_app` and a fake, or
override one dependency of the app the composition root built.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import AsyncGenerator
from contextlib import closing
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI

import lazgi
from examples.main import app, create_app
from examples.notes import database as db
from examples.notes import dependencies
from examples.notes.models import Note, Stats

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # SQLAlchemy's asyncio engine and aiosqlite run on asyncio only


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def client_for(started: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=started)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(database: str) -> AsyncGenerator[httpx.AsyncClient]:
    """A client for the real app, as its composition root builds it."""
    async with lazgi.lifespan(app) as started, client_for(started) as client:
        yield client


async def test_a_note_is_stored_and_listed(client: httpx.AsyncClient) -> None:
    created = await client.post("/notes", json={"text": "buy oat milk"})
    assert created.status_code == 201
    assert created.json() == {
        "id": 1,
        "text": "buy oat milk",
        "created_at": created.json()["created_at"],
    }
    await client.post("/notes", json={"text": "call mum"})
    listed = (await client.get("/notes")).json()
    assert [(note["id"], note["text"]) for note in listed] == [(1, "buy oat milk"), (2, "call mum")]


async def test_the_background_indexer_counts_the_words(client: httpx.AsyncClient) -> None:
    await client.post("/notes", json={"text": "buy oat milk"})
    await client.post("/notes", json={"text": "call mum"})
    await anyio.wait_all_tasks_blocked()  # the indexer, in its own task, caught up
    assert (await client.get("/stats")).json() == {"notes_indexed": 2, "words_indexed": 5}


def fake_web(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/missing":
        return httpx.Response(404)
    return httpx.Response(200, text=f"fetched {request.url.path}")


async def test_import_fetches_through_the_http_client_it_was_given(database: str) -> None:
    """Build the app with a fake HTTP client and the real database."""
    to_indexer, new_notes = anyio.create_memory_object_stream[Note](10)
    async with (
        db.open_engine(database) as engine,
        httpx.AsyncClient(transport=httpx.MockTransport(fake_web)) as fake_http,
        to_indexer,
        new_notes,
    ):
        await db.migrate(engine)
        built = create_app(engine, fake_http, to_indexer, Stats())
        async with lazgi.lifespan(built) as started, client_for(started) as client:
            imported = await client.post("/notes/import", params={"url": "http://web/page"})
            missing = await client.post("/notes/import", params={"url": "http://web/missing"})
            listed = (await client.get("/notes")).json()
        indexed = new_notes.receive_nowait()
    assert (indexed.id, indexed.text) == (1, "fetched /page")
    assert (imported.json()["id"], imported.json()["text"]) == (1, "fetched /page")
    assert listed == [imported.json()]
    assert missing.status_code == 502
    assert "could not fetch http://web/missing" in missing.json()["detail"]


async def test_one_dependency_of_the_composed_app_can_be_overridden(database: str) -> None:
    """Or start the composition root as it is and swap one dependency of the app it built."""
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(fake_web)) as fake_http,
        lazgi.lifespan(app) as started,
        client_for(started) as client,
    ):
        built: FastAPI = app.app
        built.dependency_overrides[dependencies.http_client] = lambda: fake_http
        imported = await client.post("/notes/import", params={"url": "http://web/page"})
        assert (await client.get("/notes")).json() == [imported.json()]
    assert imported.status_code == 201


async def test_a_handler_outside_create_app_fails_loudly_naming_the_wiring() -> None:
    with pytest.raises(LookupError, match=r"build the app with examples\.main\.create_app"):
        dependencies.http_client()


async def test_a_restart_serves_the_same_database_with_a_fresh_app(database: str) -> None:
    for expected in ([], ["kept"]):
        async with lazgi.lifespan(app) as started, client_for(started) as client:
            assert [note["text"] for note in (await client.get("/notes")).json()] == expected
            if not expected:
                await client.post("/notes", json={"text": "kept"})


def alembic(database: str, *command: str) -> str:
    """The migrations' command line, as an operator runs it from the repository root."""
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", "examples/alembic.ini", *command],
        cwd=Path(__file__).parents[1], env={"DATABASE_URL": database, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return done.stdout + done.stderr


class TestMigrations:
    """Alembic owns the schema: at startup the composition root upgrades it to head."""

    async def test_startup_migrates_to_head_and_the_models_agree_with_it(
        self, database: str
    ) -> None:
        async with lazgi.lifespan(app):
            pass
        assert "0002 (head)" in alembic(database, "current")
        assert "No new upgrade operations detected" in alembic(database, "check")

    async def test_the_command_line_goes_down_and_up_again(self, database: str) -> None:
        alembic(database, "upgrade", "head")
        alembic(database, "downgrade", "base")
        assert "0002 (head)" not in alembic(database, "current")
        alembic(database, "upgrade", "head")
        assert "0002 (head)" in alembic(database, "current")

    async def test_a_database_create_all_made_keeps_its_notes(
        self, database: str, tmp_path: Path
    ) -> None:
        with closing(sqlite3.connect(tmp_path / "notes.db")) as made, made:  # as create_all did
            made.execute(
                "CREATE TABLE notes (id INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (id))"
            )
            made.execute("INSERT INTO notes (text) VALUES ('kept')")
        async with lazgi.lifespan(app) as started, client_for(started) as client:
            listed = (await client.get("/notes")).json()
        assert [(note["id"], note["text"]) for note in listed] == [(1, "kept")]
        assert listed[0]["created_at"]
        assert "0002 (head)" in alembic(database, "current")

    async def test_a_release_step_instead_of_migrating_at_startup(
        self, database: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("MIGRATE_ON_STARTUP", "0")
        alembic(database, "upgrade", "head")  # the release step, before the workers start
        async with lazgi.lifespan(app) as started, client_for(started) as client:
            assert (await client.post("/notes", json={"text": "n"})).status_code == 201
        assert "schema at" not in capfd.readouterr().err  # the workers left it alone
