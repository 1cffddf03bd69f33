"""The notes service's composition root: a LazyApp factory over SQLAlchemy's asyncio engine.

    uvicorn examples.main:app --host 127.0.0.1 --port 8000
    DATABASE_URL=postgresql+asyncpg://user@127.0.0.1/notes uvicorn examples.main:app --workers 4

`main()` opens every resource the app needs, inside the running event loop and so in each worker
after any fork, and `create_app` wires each one into the handlers' dependencies: no `app.state`,
no module globals. Closing happens in reverse order when the server shuts down; the engine is
disposed, so the database sees every connection closed, not dropped.

At startup it waits for the database for a while, then migrates the schema to its newest
revision, once however many workers start; see examples/notes/database.py for the settings
(`DATABASE_URL`, SQLite's notes.db by default; `DB_POOL_SIZE`; `DB_CONNECT_RETRY_SECONDS`;
`MIGRATE_ON_STARTUP`). SQLAlchemy's asyncio engine runs on asyncio only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import httpx
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from examples.notes import database, dependencies
from examples.notes.models import Note, Stats
from examples.notes.routers import health as health_routes
from examples.notes.routers import notes as notes_routes
from examples.notes.routers import stats as stats_routes
from lazgi import LazyApp

# What a request meets while the database is down or restarting: answered 503, not 500.
UNAVAILABLE = (ConnectionError, TimeoutError, OperationalError, InterfaceError, PoolTimeoutError)
logger = logging.getLogger("notes")


def create_app(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    indexer: ObjectSendStream[Note],
    stats: Stats,
) -> FastAPI:
    """The web app, given everything it uses."""
    app = FastAPI(title="notes")
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def session() -> AsyncGenerator[AsyncSession]:
        async with sessions() as opened:
            yield opened

    app.dependency_overrides.update(
        {
            dependencies.engine: lambda: engine,
            dependencies.session: session,
            dependencies.http_client: lambda: http,
            dependencies.indexer: lambda: indexer,
            dependencies.stats: lambda: stats,
        }
    )
    for error in UNAVAILABLE:
        app.add_exception_handler(error, database_unavailable)
    app.include_router(notes_routes.router)
    app.include_router(stats_routes.router)
    app.include_router(health_routes.router)
    return app


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("%s %s: the database is unavailable: %r", request.method, request.url, exc)
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def index(new_notes: ObjectReceiveStream[Note], stats: Stats) -> None:
    """The background task: counts the words of every new note."""
    async with new_notes:
        async for note in new_notes:
            stats.notes_indexed += 1
            stats.words_indexed += len(note.text.split())


@asynccontextmanager
async def main() -> AsyncGenerator[FastAPI]:
    """The composition root: open the resources, build the app with them, close them after."""
    stats = Stats()
    async with (
        database.open_engine(database.url()) as engine,
        httpx.AsyncClient(timeout=10) as http,
        anyio.create_task_group() as tasks,
    ):
        await database.reachable(engine)
        if os.environ.get("MIGRATE_ON_STARTUP", "1") != "0":
            await database.migrate(engine)
        # Made here, once nothing can fail before each end has its owner.
        to_indexer, new_notes = anyio.create_memory_object_stream[Note](100)
        tasks.start_soon(index, new_notes, stats)
        async with to_indexer:
            yield create_app(engine, http, to_indexer, stats)


app = LazyApp(main)
