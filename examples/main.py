"""The notes service's composition root: a LazyApp factory over SQLAlchemy's asyncio engine.

    uvicorn examples.main:app --host 127.0.0.1 --port 8000
    DATABASE_URL=postgresql+asyncpg://user@127.0.0.1/notes uvicorn examples.main:app --workers 4

`main()` opens every resource the app needs, inside the running event loop and so in each worker
after any fork, and `create_app` wires each one into the handlers' dependencies: no `app.state`,
no module globals. Closing happens in reverse order when the server shuts down; the engine is
disposed, so the database sees every connection closed, not dropped.

`DATABASE_URL` is a SQLAlchemy URL, SQLite (`notes.db`) by default. `DB_POOL_SIZE` connections
per worker (5 by default, no overflow): keep workers x DB_POOL_SIZE within what the database
allows (PostgreSQL's max_connections, 100 by default, less what else connects). SQLAlchemy's
asyncio engine runs on asyncio only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import httpx
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from examples.notes import dependencies
from examples.notes.models import Base, Note, Stats
from examples.notes.routers import notes as notes_routes
from examples.notes.routers import stats as stats_routes
from lazgi import LazyApp

SCHEMA_LOCK = 0x6E6F746573  # a PostgreSQL advisory lock key: "notes"


def create_app(
    sessions: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    indexer: ObjectSendStream[Note],
    stats: Stats,
) -> FastAPI:
    """The web app, given everything it uses."""
    app = FastAPI(title="notes")

    async def session() -> AsyncGenerator[AsyncSession]:
        async with sessions() as opened:
            yield opened

    app.dependency_overrides.update(
        {
            dependencies.session: session,
            dependencies.http_client: lambda: http,
            dependencies.indexer: lambda: indexer,
            dependencies.stats: lambda: stats,
        }
    )
    app.include_router(notes_routes.router)
    app.include_router(stats_routes.router)
    return app


async def create_schema(engine: AsyncEngine) -> None:
    """Create the tables. Workers start at once on a fresh database, and PostgreSQL's CREATE
    TABLE IF NOT EXISTS races between them, so they take turns under an advisory lock."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
        await connection.run_sync(Base.metadata.create_all)


@asynccontextmanager
async def open_engine(url: str) -> AsyncGenerator[AsyncEngine]:
    """An engine with its schema, disposed on exit: its connections are closed, not dropped."""
    pool_size = int(os.environ.get("DB_POOL_SIZE", "5"))
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
    say(f"opened engine {engine.url.render_as_string(hide_password=True)}")
    try:
        await create_schema(engine)
        yield engine
    finally:
        await engine.dispose()
        say("disposed engine")


async def index(new_notes: ObjectReceiveStream[Note], stats: Stats) -> None:
    """The background task: counts the words of every new note."""
    async with new_notes:
        async for note in new_notes:
            stats.notes_indexed += 1
            stats.words_indexed += len(note.text.split())


def say(line: str) -> None:
    # One write per line, so that lines from several workers never interleave.
    os.write(sys.stderr.fileno(), f"notes {os.getpid()}: {line}\n".encode())


@asynccontextmanager
async def main() -> AsyncGenerator[FastAPI]:
    """The composition root: open the resources, build the app with them, close them after."""
    url = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///notes.db")
    stats = Stats()
    async with (
        open_engine(url) as engine,
        httpx.AsyncClient(timeout=10) as http,
        anyio.create_task_group() as tasks,
    ):
        # Made here, once nothing can fail before each end has its owner.
        to_indexer, new_notes = anyio.create_memory_object_stream[Note](100)
        tasks.start_soon(index, new_notes, stats)
        async with to_indexer:
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            yield create_app(sessions, http, to_indexer, stats)


app = LazyApp(main)
