"""What the handlers depend on, as typed FastAPI dependencies. Each is a placeholder that
`create_app` wires to a resource the composition root opened; nothing here holds one."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import httpx
from anyio.abc import ObjectSendStream
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Note, Stats


def _unwired(name: str) -> LookupError:
    return LookupError(f"{name} is not wired: build the app with examples.main.create_app")


async def session() -> AsyncGenerator[AsyncSession]:
    """One session per request, closed when the request ends."""
    raise _unwired("session")
    yield  # pragma: no cover - an async generator, as its replacement is


def http_client() -> httpx.AsyncClient:
    raise _unwired("http_client")


def indexer() -> ObjectSendStream[Note]:
    raise _unwired("indexer")


def stats() -> Stats:
    raise _unwired("stats")


Session = Annotated[AsyncSession, Depends(session)]
HttpClient = Annotated[httpx.AsyncClient, Depends(http_client)]
Indexer = Annotated[ObjectSendStream[Note], Depends(indexer)]
CurrentStats = Annotated[Stats, Depends(stats)]
