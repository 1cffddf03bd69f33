"""The test clients of README recipe 6 driving a LazyApp: Starlette's TestClient (sync, on
asyncio and trio), asgi-lifespan's LifespanManager, and a websocket round trip through
`lazgi.lifespan()`. Each enters the composition root exactly once per block."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

import lazgi
from lazgi import LazyApp, NotStartedError

from ..fakes import Composition
from ..test_first_request import Composition as Starting

OPENED_AND_CLOSED_ONCE = [
    "factory enter",
    "db open",
    "http open",
    "http close",
    "db close",
    "factory exit",
]


def served(composition: Composition) -> Starlette:
    """A Starlette app whose answers say which app and which resource serve them."""

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{id(app)} {id(composition.db)}")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"{websocket.state.greeting}, {await websocket.receive_text()}")
        await websocket.close()

    @asynccontextmanager
    async def greeting(app: Starlette) -> AsyncGenerator[dict[str, str]]:
        yield {"greeting": f"hello from {composition.db.name}"}  # the lifespan state

    routes = [Route("/", home), WebSocketRoute("/echo", echo)]
    app = Starlette(routes=routes, lifespan=greeting)
    return app


def lazy_app() -> tuple[Composition, LazyApp[Any]]:
    composition = Composition()
    composition.app = served(composition)
    return composition, composition.lazy()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_testclient_with_with_enters_the_factory_once_for_the_block(
    backend: Literal["asyncio", "trio"],
) -> None:
    composition, app = lazy_app()
    with TestClient(app, backend=backend) as client:
        answers = {client.get("/").text for _ in range(3)}
        assert composition.log == ["factory enter", "db open", "http open"]
    assert len(answers) == 1  # one inner app served all three
    assert composition.log == OPENED_AND_CLOSED_ONCE


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_testclient_without_with_raises_not_started_naming_the_fix(
    backend: Literal["asyncio", "trio"],
) -> None:
    composition, app = lazy_app()
    client = TestClient(app, backend=backend)
    with pytest.raises(NotStartedError, match=r"has not started.*`with TestClient\(app\)`"):
        client.get("/")
    assert composition.log == []  # nothing was built


@pytest.mark.anyio
async def test_lifespan_manager_enters_the_factory_once_for_the_block() -> None:
    composition, app = lazy_app()
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = {(await client.get("/")).text for _ in range(3)}
    assert len(answers) == 1
    assert composition.log == OPENED_AND_CLOSED_ONCE


@pytest.mark.anyio
async def test_a_websocket_round_trip_sees_the_inner_apps_lifespan_state() -> None:
    """`lifespan()` plays the server: the state dict of its lifespan scope reaches the inner
    app's lifespan through LazyApp, and a copy of what it holds reaches every websocket."""
    composition, app = lazy_app()
    async with lazgi.lifespan(app) as started:
        assert started.state == {"greeting": "hello from db"}
        transport = ASGIWebSocketTransport(started)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            aconnect_ws("/echo", client, session_class=AsyncWebSocketSession) as websocket,
        ):
            await websocket.send_text("ws")
            assert await websocket.receive_text() == "hello from db, ws"
    assert composition.log == OPENED_AND_CLOSED_ONCE


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
def test_testclient_without_with_gives_each_request_a_fresh_app_torn_down_after_it(
    anyio_backend: Literal["asyncio", "trio"],
) -> None:
    """TestClient without `with` runs each request in an event loop of its own."""
    composition = Starting(tasks=False)
    http = TestClient(LazyApp(composition.main, start_on_first_request=True), backend=anyio_backend)
    assert http.get("/").text == "app1"
    assert http.get("/").text == "app2"
    assert composition.log == [
        "db1 open",
        "app1 startup",
        "db1 close",
        "db2 open",
        "app2 startup",
        "db2 close",
    ]
