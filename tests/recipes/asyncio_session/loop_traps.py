"""What the recipe's settings avoid, each run in a session of its own: a test on an event loop
of its own calling the app that started on the session's loop."""

from collections.abc import AsyncGenerator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

import lazgi
from examples.main import app
from lazgi import LazyApp, StartedApp


@pytest_asyncio.fixture(scope="session")
async def unguarded() -> AsyncGenerator[StartedApp[LazyApp[FastAPI]]]:
    async with lazgi.lifespan(app) as started:
        yield started


@pytest.mark.asyncio(loop_scope="function")
async def test_unguarded(unguarded: StartedApp[LazyApp[FastAPI]]) -> None:
    transport = httpx.ASGITransport(app=unguarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://notes") as http:
        await http.get("/notes")


@pytest.mark.asyncio(loop_scope="function")
async def test_guarded(client: httpx.AsyncClient) -> None:
    await client.get("/notes")
