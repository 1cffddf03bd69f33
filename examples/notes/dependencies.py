"""What the handlers depend on, as typed FastAPI dependencies. Each is a placeholder that
`create_app` wires to a resource the composition root opened; nothing here holds one."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Annotated, TypeVar, cast

import httpx
from anyio.abc import ObjectSendStream
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .models import Note, Stats

T = TypeVar("T")


def _unwired(name: str) -> LookupError:
    return LookupError(f"{name} is not wired: build the app with examples.main.create_app")


async def session() -> AsyncGenerator[AsyncSession]:
    """One session per request, closed when the request ends."""
    raise _unwired("session")
    yield  # pragma: no cover - an async generator, as its replacement is


def engine() -> AsyncEngine:
    raise _unwired("engine")


def http_client() -> httpx.AsyncClient:
    raise _unwired("http_client")


def indexer() -> ObjectSendStream[Note]:
    raise _unwired("indexer")


def stats() -> Stats:
    raise _unwired("stats")


Session = Annotated[AsyncSession, Depends(session)]
Engine = Annotated[AsyncEngine, Depends(engine)]
HttpClient = Annotated[httpx.AsyncClient, Depends(http_client)]
Indexer = Annotated[ObjectSendStream[Note], Depends(indexer)]
CurrentStats = Annotated[Stats, Depends(stats)]


def wired(app: FastAPI, dependency: Callable[[], T]) -> T:
    """The resource `create_app` wired to `dependency` in `app`: for a test that needs the very
    engine the composition root opened, say."""
    return cast(T, app.dependency_overrides[dependency]())
