"""Testing the notes service (main.py) the lazgi way: pytest, httpx.ASGITransport, and
`async with lazgi.lifespan(app)` to run the composition root around each test.

    pytest examples/test_notes.py

A resource is overridden by building the app with a fake one: `create_app` takes everything it
uses as an argument, so there is nothing to patch.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

import anyio
import httpx
import pytest

import lazgi
from examples.main import Note, Stats, app, create_app, open_notes

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[httpx.AsyncClient]:
    """A client for the real app, as its composition root builds it, on a fresh database."""
    monkeypatch.setenv("NOTES_DB", str(tmp_path / "notes.db"))
    async with lazgi.lifespan(app) as started:
        transport = httpx.ASGITransport(app=started)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_a_note_is_stored_and_listed(client: httpx.AsyncClient) -> None:
    created = await client.post("/notes", json={"text": "buy oat milk"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "text": "buy oat milk"}
    assert (await client.get("/notes")).json() == [{"id": 1, "text": "buy oat milk"}]


async def test_the_background_indexer_counts_the_words(client: httpx.AsyncClient) -> None:
    await client.post("/notes", json={"text": "buy oat milk"})
    await client.post("/notes", json={"text": "call mum"})
    await anyio.wait_all_tasks_blocked()  # the indexer, in its own task, caught up
    assert (await client.get("/stats")).json() == {"notes_indexed": 2, "words_indexed": 5}


async def test_import_fetches_through_the_http_client_it_was_given(tmp_path: Path) -> None:
    def fake_web(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/missing":
            return httpx.Response(404)
        return httpx.Response(200, text=f"fetched {request.url.path}")

    to_indexer, new_notes = anyio.create_memory_object_stream[Note](10)
    async with (
        open_notes(str(tmp_path / "notes.db")) as notes,
        httpx.AsyncClient(transport=httpx.MockTransport(fake_web)) as fake_http,
        to_indexer,
        new_notes,
        lazgi.lifespan(create_app(notes, fake_http, to_indexer, Stats())) as started,
    ):
        transport = httpx.ASGITransport(app=started)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            imported = await client.post("/notes/import", params={"url": "http://web/page"})
            missing = await client.post("/notes/import", params={"url": "http://web/missing"})
        assert new_notes.receive_nowait() == Note(id=1, text="fetched /page")
    assert imported.json() == {"id": 1, "text": "fetched /page"}
    assert missing.status_code == 502
    assert "could not fetch http://web/missing" in missing.json()["detail"]


async def test_a_restart_serves_the_same_database_with_a_fresh_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTES_DB", str(tmp_path / "notes.db"))
    for expected in ([], [{"id": 1, "text": "kept"}]):
        async with lazgi.lifespan(app) as started:
            transport = httpx.ASGITransport(app=started)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                assert (await client.get("/notes")).json() == expected
                if not expected:
                    await client.post("/notes", json={"text": "kept"})
