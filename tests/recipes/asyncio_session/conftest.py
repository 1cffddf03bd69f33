"""pytest-asyncio fixtures for the notes service: its composition root started once for the
session, on the session's event loop; each test's database work in a transaction rolled back at
its end; and, where a test needs one, a whole fresh app."""

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

import lazgi
from examples.main import app, main
from examples.notes import dependencies
from lazgi import LazyApp, StartedApp


class OnItsLoop:
    """The started app, callable only from the event loop it started on: a test on another
    loop fails here, naming the fix, instead of deep in the database driver ("attached to a
    different loop")."""

    def __init__(self, started: StartedApp[LazyApp[FastAPI]]) -> None:
        self.started = started
        self.api = started.app.app  # the FastAPI app the composition root built
        self.loop = asyncio.get_running_loop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if asyncio.get_running_loop() is not self.loop:
            pytest.fail(
                "this test runs on another event loop than the app it calls, which started on "
                "the session's: run it there (asyncio_default_test_loop_scope = 'session', or "
                "@pytest.mark.asyncio(loop_scope='session'))",
                pytrace=False,
            )
        await self.started(scope, receive, send)


@pytest_asyncio.fixture(scope="session")
async def notes() -> AsyncGenerator[OnItsLoop]:
    """The composition root (examples.main:app), started once for the whole session."""
    async with lazgi.lifespan(app) as started:
        yield OnItsLoop(started)


def client_of(asgi: Callable[[Scope, Receive, Send], Awaitable[None]]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi)
    return httpx.AsyncClient(transport=transport, base_url="http://notes")


@pytest_asyncio.fixture
async def client(notes: OnItsLoop) -> AsyncGenerator[httpx.AsyncClient]:
    """A client of the session's app whose requests all run in one transaction of the
    database, rolled back when the test ends: a handler's commit only releases a SAVEPOINT."""
    engine = dependencies.wired(notes.api, dependencies.engine)
    async with engine.connect() as connection:
        transaction = await connection.begin()

        async def session() -> AsyncGenerator[AsyncSession]:
            bound = AsyncSession(
                connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
            async with bound:
                yield bound

        wired = notes.api.dependency_overrides[dependencies.session]
        notes.api.dependency_overrides[dependencies.session] = session
        try:
            async with client_of(notes) as http:
                yield http
        finally:
            notes.api.dependency_overrides[dependencies.session] = wired
            await transaction.rollback()


@pytest_asyncio.fixture
async def fresh_client() -> AsyncGenerator[httpx.AsyncClient]:
    """A client of a whole new composition root, for the one test that needs its own."""
    async with lazgi.lifespan(LazyApp(main)) as started, client_of(started) as http:
        yield http
