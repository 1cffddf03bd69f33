"""LazyApp while running and around it: request forwarding, state for servers without it,
failing closed when no app runs, shutdown order, and restarts."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from lazgi import LazyApp, NotStartedError
from lazgi._types import ASGIApp, Receive, Scope, Send

from .conftest import serve
from .fakes import Resource, http_scope, inner_app, no_receive, no_send

pytestmark = pytest.mark.anyio

HINTS = ["lifespan on", "with TestClient(app)", "async with lazgi.lifespan(app)"]


def recording_app(seen: list[tuple[Scope, Receive, Send]], state: dict[str, Any]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"].update(state)
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
        else:
            seen.append((scope, receive, send))

    return app


@pytest.mark.parametrize("kind", ["http", "websocket"])
async def test_requests_reach_the_inner_app_unchanged(kind: str) -> None:
    seen: list[tuple[Scope, Receive, Send]] = []
    app = LazyApp(lambda: recording_app(seen, {"pool": "p"}))
    async with serve(app) as server:
        await server.startup()
        scope = {"type": kind, "path": "/", "state": {"pool": "p"}}
        await app(scope, no_receive, no_send)
        await server.shutdown()
    assert seen == [(scope, no_receive, no_send)]
    assert seen[0][0] is scope
    assert scope == {"type": kind, "path": "/", "state": {"pool": "p"}}


async def test_a_scope_without_state_gets_a_shallow_copy_of_the_lifespan_state() -> None:
    seen: list[tuple[Scope, Receive, Send]] = []
    pool = object()
    app = LazyApp(lambda: recording_app(seen, {"pool": pool}))
    async with serve(app, {"type": "lifespan"}) as server:  # a server without state support
        await server.startup()
        first, second = http_scope(), http_scope()
        await app(first, no_receive, no_send)
        await app(second, no_receive, no_send)
        await server.shutdown()
    assert first["state"] == {"pool": pool}
    assert first["state"]["pool"] is pool
    assert first["state"] is not second["state"]  # a copy per request, as servers make


async def test_an_empty_lifespan_state_adds_nothing_to_the_scope() -> None:
    seen: list[tuple[Scope, Receive, Send]] = []
    app = LazyApp(lambda: recording_app(seen, {}))
    async with serve(app, {"type": "lifespan"}) as server:
        await server.startup()
        scope = http_scope()
        await app(scope, no_receive, no_send)
        await server.shutdown()
    assert "state" not in scope


async def test_a_request_before_any_lifespan_raises_not_started_with_the_fix() -> None:
    log: list[str] = []
    app = LazyApp(lambda: inner_app(log))
    with pytest.raises(NotStartedError, match="has not started") as info:
        await app(http_scope(), no_receive, no_send)
    for hint in HINTS:
        assert hint in str(info.value)
    with pytest.raises(NotStartedError, match="has not started"):
        _ = app.app
    assert log == []


async def test_requests_during_startup_and_during_shutdown_fail_closed() -> None:
    log: list[str] = []
    in_factory, in_shutdown = anyio.Event(), anyio.Event()
    go_on, finish = anyio.Event(), anyio.Event()

    async def on_shutdown() -> None:
        in_shutdown.set()
        await finish.wait()

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        in_factory.set()
        await go_on.wait()
        yield inner_app(log, on_shutdown=on_shutdown)

    app = LazyApp(main)
    async with serve(app) as server, anyio.create_task_group() as tasks:
        tasks.start_soon(server.startup)
        await in_factory.wait()
        with pytest.raises(NotStartedError, match="is starting"):
            await app(http_scope(), no_receive, no_send)
        go_on.set()
        await server.wait_receiving()  # started; LazyApp waits for lifespan.shutdown
        await app(http_scope(), no_receive, no_send)
        tasks.start_soon(server.shutdown)
        await in_shutdown.wait()
        with pytest.raises(NotStartedError, match="is shutting down"):
            await app({"type": "websocket"}, no_receive, no_send)
        finish.set()
    with pytest.raises(NotStartedError, match="has shut down"):
        await app(http_scope(), no_receive, no_send)
    assert log == ["inner startup", "inner http", "inner shutdown"]


async def test_shutdown_stops_the_inner_app_then_exits_the_factory_then_reports() -> None:
    log: list[str] = []

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with Resource("db", log):
            yield inner_app(log)

    async with serve(LazyApp(main), log=log) as server:
        await server.startup()
        log.clear()
        assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    assert log == ["inner shutdown", "db close", "server got lifespan.shutdown.complete"]
    assert server.returned
    assert not server.cancelled_after_final_message  # nothing awaited after the last message


async def test_teardown_does_not_depend_on_the_state_dict_the_server_empties() -> None:
    log: list[str] = []
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with Resource("db", log) as db:
            yield recording_app([], {"db": db})

    async with serve(LazyApp(main), {"type": "lifespan", "state": state}) as server:
        await server.startup()
        assert set(state) == {"db"}
        state.clear()  # granian does this before shutdown
        assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    assert log == ["db open", "db close"]


async def test_after_a_completed_shutdown_a_new_lifespan_builds_a_fresh_app() -> None:
    built: list[ASGIApp] = []
    log: list[str] = []

    def factory() -> ASGIApp:
        built.append(inner_app(log))
        return built[-1]

    app = LazyApp(factory)
    for _ in range(3):
        async with serve(app) as server:
            await server.startup()
            assert app.app is built[-1]
            await server.shutdown()
    assert len(built) == 3
    assert len({id(each) for each in built}) == 3


async def test_a_lifespan_after_a_failed_startup_tries_again() -> None:
    attempts: list[int] = []
    log: list[str] = []

    def factory() -> ASGIApp:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("database not up yet")
        return inner_app(log)

    app = LazyApp(factory)
    async with serve(app) as server:
        assert (await server.startup())["type"] == "lifespan.startup.failed"
    async with serve(app) as server:
        assert await server.startup() == {"type": "lifespan.startup.complete"}
        await server.shutdown()
    assert len(attempts) == 2


async def test_a_second_lifespan_while_one_runs_is_refused_and_the_first_goes_on() -> None:
    log: list[str] = []
    factory_calls: list[int] = []

    def factory() -> ASGIApp:
        factory_calls.append(1)
        return inner_app(log)

    app = LazyApp(factory)
    async with serve(app) as first:
        await first.startup()
        async with serve(app) as second:
            reply = await second.startup()
        assert reply["type"] == "lifespan.startup.failed"
        assert "already running" in reply["message"]
        assert second.sent == [reply]
        assert second.returned
        await app(http_scope(), no_receive, no_send)
        await first.shutdown()
    assert first.types() == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert factory_calls == [1]
    assert log == ["inner startup", "inner http", "inner shutdown"]


async def test_other_scope_types_are_forwarded_while_running() -> None:
    seen: list[tuple[Scope, Receive, Send]] = []
    app = LazyApp(lambda: recording_app(seen, {}))
    async with serve(app) as server:
        await server.startup()
        scope: dict[str, Any] = {"type": "webtransport", "state": {}}
        await app(scope, no_receive, no_send)
        await server.shutdown()
    assert seen == [(scope, no_receive, no_send)]
