"""Tests that use the README's fixtures and record what they saw, one JSON line each, in the
file RECIPE_RECORD names: which backend they asked for, which loop ran them, and which app
(the README's app names its HTTP client) answered."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import sniffio

pytestmark = pytest.mark.anyio


async def record(test: str, anyio_backend: str, app: Any = None) -> None:
    answer = None
    if app is not None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = (await client.get("/")).text
    ran = sniffio.current_async_library()
    append({"test": test, "asked": anyio_backend, "ran": ran, "answer": answer})


def append(line: dict[str, Any]) -> None:
    with Path(os.environ["RECIPE_RECORD"]).open("a") as file:
        file.write(json.dumps(line) + "\n")


async def test_session_app_first(session_app: Any, anyio_backend: str) -> None:
    await record("session", anyio_backend, session_app)


async def test_session_app_second(session_app: Any, anyio_backend: str) -> None:
    await record("session", anyio_backend, session_app)


async def test_fresh_app_first(fresh_app: Any, anyio_backend: str) -> None:
    await record("fresh", anyio_backend, fresh_app)


async def test_fresh_app_second(fresh_app: Any, anyio_backend: str) -> None:
    await record("fresh", anyio_backend, fresh_app)


@pytest.mark.usefixtures("asyncio_only")
async def test_asyncio_only(anyio_backend: str) -> None:
    await record("asyncio only", anyio_backend)
