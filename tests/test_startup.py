"""LazyApp startup: order, the inner app's own scope, the accepted factory forms, apps without
lifespan support, and nothing built before lifespan.startup."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Generator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest

from lazgi import LazyApp
from lazgi._types import ASGIApp, Receive, Scope, Send

from .conftest import serve
from .fakes import Composition, inner_app

pytestmark = pytest.mark.anyio


async def test_nothing_is_built_at_construction_or_before_lifespan_startup() -> None:
    root = Composition()
    app, log = LazyApp(root.main), root.log
    assert log == []
    async with serve(app, log=log) as server:
        await server.wait_receiving()
        assert log == []  # LazyApp is waiting for lifespan.startup and has built nothing
        await server.startup()
        await server.shutdown()


async def test_startup_enters_factory_then_inner_startup_then_reports_complete() -> None:
    root = Composition()
    log = root.log
    async with serve(LazyApp(root.main), log=log) as server:
        assert await server.startup() == {"type": "lifespan.startup.complete"}
        assert log == [
            "factory enter",
            "db open",
            "http open",
            "inner startup",
            "server got lifespan.startup.complete",
        ]
        await server.shutdown()
    assert server.types() == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_inner_app_gets_a_copy_of_the_server_scope_with_the_server_state() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await receive()
        scope["state"]["pool"] = "the pool"
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    state: dict[str, Any] = {}
    server_scope: dict[str, Any] = {
        "type": "lifespan",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "state": state,
        "extensions": {"x-custom": {}},
    }
    async with serve(LazyApp(lambda: app), server_scope) as server:
        await server.startup()
        await server.shutdown()
    (inner_scope,) = seen
    assert inner_scope is not server_scope
    assert inner_scope == server_scope
    assert inner_scope["state"] is state
    assert state == {"pool": "the pool"}


async def test_inner_app_gets_a_fresh_state_dict_when_the_server_sends_none() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    server_scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    async with serve(LazyApp(lambda: app), server_scope) as server:
        await server.startup()
        await server.shutdown()
    assert seen[0]["state"] == {}
    assert "state" not in server_scope


@pytest.mark.parametrize("form", ["async cm", "async generator", "async def", "sync cm", "def"])
async def test_every_factory_form_builds_and_serves_the_app(form: str) -> None:
    log: list[str] = []
    inner = inner_app(log)

    @asynccontextmanager
    async def async_cm() -> AsyncGenerator[ASGIApp]:
        log.append("enter")
        yield inner
        log.append("exit")

    async def async_generator() -> AsyncGenerator[ASGIApp]:
        log.append("enter")
        yield inner
        log.append("exit")

    async def async_def() -> ASGIApp:
        log.append("enter")
        return inner

    @contextmanager
    def sync_cm() -> Generator[ASGIApp]:
        log.append("enter")
        yield inner
        log.append("exit")

    def sync_def() -> ASGIApp:
        log.append("enter")
        return inner

    factories: dict[str, Any] = {
        "async cm": async_cm,
        "async generator": async_generator,
        "async def": async_def,
        "sync cm": sync_cm,
        "def": sync_def,
    }
    app = LazyApp(factories[form])
    async with serve(app) as server:
        assert await server.startup() == {"type": "lifespan.startup.complete"}
        assert app.app is inner
        assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    has_exit = form in ("async cm", "async generator", "sync cm")
    expected = ["enter", "inner startup", "inner shutdown"] + (["exit"] if has_exit else [])
    assert log == expected


async def test_an_awaitable_factory_result_is_awaited_inside_the_lifespan() -> None:
    log: list[str] = []
    inner = inner_app(log)

    async def build() -> ASGIApp:
        log.append("built")
        return inner

    def factory() -> Awaitable[ASGIApp]:
        return build()

    async with serve(LazyApp(factory)) as server:
        await server.startup()
        await server.shutdown()
    assert log == ["built", "inner startup", "inner shutdown"]


@pytest.mark.parametrize("how", ["raises", "returns"])
async def test_inner_app_without_lifespan_support_still_starts_and_serves(how: str) -> None:
    root = Composition()
    log = root.log

    async def no_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if how == "raises":  # Django's ASGIHandler does this
                raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")
            return
        log.append(f"served {scope['type']}")

    root.app = no_lifespan
    app = LazyApp(root.main)
    async with serve(app, log=log) as server:
        assert await server.startup() == {"type": "lifespan.startup.complete"}
        await app({"type": "http"}, server.receive, server.send)
        assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    assert log == [
        "factory enter",
        "db open",
        "http open",
        "server got lifespan.startup.complete",
        "served http",
        "http close",
        "db close",
        "factory exit",
        "server got lifespan.shutdown.complete",
    ]
