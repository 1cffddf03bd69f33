"""The example notes service (what `make run` serves), in-process and under a real uvicorn."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

import lazgi
from examples import main as notes

from .conftest import BOUND
from .servers.conftest import server


async def wait_for_index(client: httpx.AsyncClient, notes_indexed: int) -> dict[str, int]:
    """Poll /stats until the background indexer caught up, within a bound."""
    with anyio.fail_after(BOUND):
        while True:
            stats: dict[str, int] = (await client.get("/stats")).json()
            if stats["notes_indexed"] == notes_indexed:
                return stats
            await anyio.sleep(0.01)


@pytest.mark.anyio
async def test_the_notes_service_stores_lists_and_indexes_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTES_DB", str(tmp_path / "notes.db"))
    async with lazgi.lifespan(notes.app) as started:
        transport = httpx.ASGITransport(app=started)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            created = await client.post("/notes", json={"text": "buy oat milk"})
            assert created.status_code == 201
            assert created.json() == {"id": 1, "text": "buy oat milk"}
            assert (await client.get("/notes")).json() == [{"id": 1, "text": "buy oat milk"}]
            assert await wait_for_index(client, 1) == {"notes_indexed": 1, "words_indexed": 3}
    # A restart builds a fresh app on the same database file.
    async with lazgi.lifespan(notes.app) as started:
        transport = httpx.ASGITransport(app=started)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/notes")).json() == [{"id": 1, "text": "buy oat milk"}]


@pytest.mark.anyio
async def test_create_app_takes_a_fake_http_client_in_a_test(tmp_path: Path) -> None:
    def fake_web(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/missing":
            return httpx.Response(404)
        return httpx.Response(200, text=f"fetched {request.url.path}")

    stats = notes.Stats()
    to_indexer, new_notes = anyio.create_memory_object_stream[notes.Note](10)
    async with (
        notes.open_notes(str(tmp_path / "notes.db")) as db,
        httpx.AsyncClient(transport=httpx.MockTransport(fake_web)) as http,
        to_indexer,
        new_notes,
        lazgi.lifespan(notes.create_app(db, http, to_indexer, stats)) as started,
    ):
        transport = httpx.ASGITransport(app=started)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            imported = await client.post("/notes/import", params={"url": "http://web/page"})
            missing = await client.post("/notes/import", params={"url": "http://web/missing"})
        queued = new_notes.receive_nowait()
    assert queued == notes.Note(id=1, text="fetched /page")
    assert imported.json() == {"id": 1, "text": "fetched /page"}
    assert missing.status_code == 502
    assert "could not fetch http://web/missing" in missing.json()["detail"]


def test_make_run_serves_the_notes_service_under_uvicorn(tmp_path: Path) -> None:
    command = ["uvicorn", "examples.main:app", "--host", "127.0.0.1", "--port", "{port}"]
    with server(command, tmp_path, NOTES_DB=str(tmp_path / "notes.db")) as process:
        process.wait_ready()
        created = httpx.post(process.url + "notes", json={"text": "hello"})
        listed = httpx.get(process.url + "notes")
        process.stop()
    assert created.status_code == 201
    assert listed.json() == [{"id": 1, "text": "hello"}]
    assert "Application shutdown complete" in process.text()
