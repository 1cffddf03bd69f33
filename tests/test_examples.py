"""The examples that test_notes.py (example 5) does not cover: each one served for real."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

import lazgi
from examples import existing_factory, mounted

from .servers.conftest import server


async def get(app: lazgi.LazyApp[object], path: str) -> httpx.Response:
    async with lazgi.lifespan(app) as started:
        transport = httpx.ASGITransport(app=started)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)


@pytest.mark.anyio
async def test_an_existing_async_factory_is_wrapped_as_it_is() -> None:
    assert (await get(existing_factory.app, "/")).text == "hello from an async factory"


@pytest.mark.anyio
async def test_an_existing_sync_factory_is_wrapped_as_it_is() -> None:
    assert (await get(existing_factory.sync_app, "/")).text == "hello from a sync factory"


@pytest.mark.anyio
async def test_the_mounted_sub_app_has_its_own_lifespan_run_by_the_factory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="examples.mounted")
    assert (await get(mounted.app, "/admin/jobs")).json() == ["reindex"]
    said = [r.getMessage() for r in caplog.records if r.name == "examples.mounted"]
    assert said == ["admin app started", "admin app stopped"]


def test_make_run_serves_the_notes_service_under_uvicorn(tmp_path: Path) -> None:
    command = ["uvicorn", "examples.main:app", "--host", "127.0.0.1", "--port", "{port}"]
    database = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    with server(command, tmp_path, DATABASE_URL=database) as process:
        process.wait_ready()
        created = httpx.post(process.url + "notes", json={"text": "hello"})
        listed = httpx.get(process.url + "notes")
        process.stop()
    assert created.status_code == 201
    assert listed.json() == [created.json()]
    assert [(note["id"], note["text"]) for note in listed.json()] == [(1, "hello")]
    assert "Application shutdown complete" in process.text()
