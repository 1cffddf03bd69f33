"""LazyApp failures: each is reported to the server exactly once, as the last thing LazyApp
awaits, after every opened context was closed in reverse order; none is raised at the server."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from lazgi import LazyApp, NotStartedError, StartupError
from lazgi._types import ASGIApp, Message, Receive, Scope, Send

from .conftest import serve
from .fakes import Composition, http_scope, inner_app, no_receive, no_send

pytestmark = pytest.mark.anyio

TIMEOUT = 0.05


async def fail(text: str) -> None:
    raise RuntimeError(text)


async def raise_value_error() -> None:
    raise ValueError("no database")


def crashes_after(step: str) -> ASGIApp:
    """An inner app that raises after its first receive(), during `step`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        if step == "startup":
            raise RuntimeError("kaput")
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise RuntimeError("bad shutdown")

    return app


STARTUP_FAILURES: dict[str, tuple[dict[str, Any], dict[str, Any], list[str]]] = {
    # name: (factory knobs, LazyApp options, words the startup.failed message must contain)
    "factory raises": (
        {"enter": raise_value_error},
        {},
        ["ValueError: no database"],
    ),
    "factory yields something that is not an app": (
        {"yields": 42},
        {},
        ["TypeError", "produced 42 (int)", "not an ASGI app"],
    ),
    "inner app sends startup.failed": (
        {"app": inner_app([], on_startup=lambda: fail("boom"))},
        {},
        ["the app sent lifespan.startup.failed: inner said boom"],
    ),
    "inner app raises after its first receive": (
        {"app": crashes_after("startup")},
        {},
        ["RuntimeError: kaput", "during startup"],
    ),
    "startup_timeout passes in the inner app": (
        {"app": inner_app([], on_startup=anyio.sleep_forever)},
        {"startup_timeout": TIMEOUT},
        [f"startup_timeout ({TIMEOUT} s) passed while the app handled lifespan.startup"],
    ),
}


@pytest.mark.parametrize("name", STARTUP_FAILURES)
async def test_startup_failure_closes_what_was_opened_then_reports_failed_once(name: str) -> None:
    knobs, options, words = STARTUP_FAILURES[name]
    root = Composition(**knobs)
    app = LazyApp(root.main, **options)
    async with serve(app, log=root.log) as server:
        reply = await server.startup()
    assert reply["type"] == "lifespan.startup.failed"
    for word in words:
        assert word in reply["message"]
    assert server.sent == [reply]
    assert root.log[:3] == ["factory enter", "db open", "http open"]
    assert root.log[-3:] == ["http close", "db close", "server got lifespan.startup.failed"]
    assert (root.db.exited, root.http.exited) == (1, 1)
    assert server.returned
    assert not server.cancelled_after_final_message
    with pytest.raises(NotStartedError, match="failed to start"):
        await app(http_scope(), no_receive, no_send)


async def test_startup_timeout_in_the_factory_cancels_its_enter_and_reports_which_stage() -> None:
    root = Composition(enter=anyio.sleep_forever)
    app = LazyApp(root.main, startup_timeout=TIMEOUT)
    async with serve(app) as server:
        reply = await server.startup()
    assert reply == {
        "type": "lifespan.startup.failed",
        "message": f"startup_timeout ({TIMEOUT} s) passed while entering the factory; "
        "make the startup faster or raise startup_timeout",
    }
    # Like any anyio timeout, it cancels the factory's enter, which unwinds its own contexts.
    assert (root.db.exit_calls, root.http.exit_calls) == (1, 1)
    assert server.returned


async def test_the_factory_sees_the_inner_failure_thrown_in_at_its_yield() -> None:
    root = Composition(app=inner_app([], on_startup=lambda: fail("boom")))
    factory = root.main
    async with serve(LazyApp(factory)) as server:
        await server.startup()
    assert root.seen_at_yield == ["StartupError"]


async def test_send_of_startup_failed_raising_propagates_as_under_hypercorn() -> None:
    root = Composition(enter=raise_value_error)
    app = LazyApp(root.main)

    class LifespanFailureError(Exception):
        pass

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        raise LifespanFailureError(message["message"])

    with pytest.raises(LifespanFailureError, match="ValueError: no database"):
        await app({"type": "lifespan", "state": {}}, receive, send)
    assert root.db.exited == 1


SHUTDOWN_FAILURES: dict[str, tuple[dict[str, Any], dict[str, Any], list[str]]] = {
    "inner app sends shutdown.failed": (
        {"app": inner_app([], on_shutdown=lambda: fail("flush failed"))},
        {},
        ["the app sent lifespan.shutdown.failed: inner said flush failed"],
    ),
    "inner app raises during shutdown": (
        {"app": crashes_after("shutdown")},
        {},
        ["RuntimeError: bad shutdown", "during shutdown"],
    ),
    "factory exit raises": (
        {"exit": lambda: fail("close failed")},
        {},
        ["RuntimeError: close failed"],
    ),
    "inner app and factory exit both fail": (
        {
            "app": inner_app([], on_shutdown=lambda: fail("flush failed")),
            "exit": lambda: fail("close failed"),
        },
        {},
        ["inner said flush failed", "RuntimeError: close failed"],
    ),
    "shutdown_timeout passes in the inner app": (
        {"app": inner_app([], on_shutdown=anyio.sleep_forever)},
        {"shutdown_timeout": TIMEOUT},
        [f"shutdown_timeout ({TIMEOUT} s) passed while the app handled lifespan.shutdown"],
    ),
}


@pytest.mark.parametrize("name", SHUTDOWN_FAILURES)
async def test_shutdown_failure_runs_every_teardown_step_then_reports_failed_once(
    name: str,
) -> None:
    knobs, options, words = SHUTDOWN_FAILURES[name]
    root = Composition(**knobs)
    app = LazyApp(root.main, **options)
    async with serve(app, log=root.log) as server:
        assert await server.startup() == {"type": "lifespan.startup.complete"}
        reply = await server.shutdown()
    assert reply["type"] == "lifespan.shutdown.failed"
    for word in words:
        assert word in reply["message"]
    assert server.sent == [{"type": "lifespan.startup.complete"}, reply]
    assert root.log[-3:] == ["http close", "db close", "server got lifespan.shutdown.failed"]
    assert (root.db.exited, root.http.exited) == (1, 1)
    assert server.returned
    assert not server.cancelled_after_final_message


async def test_shutdown_timeout_in_the_factory_exit_cancels_it_and_reports_which_stage() -> None:
    root = Composition(exit=anyio.sleep_forever)
    app = LazyApp(root.main, shutdown_timeout=TIMEOUT)
    async with serve(app) as server:
        await server.startup()
        reply = await server.shutdown()
    assert reply == {
        "type": "lifespan.shutdown.failed",
        "message": f"shutdown_timeout ({TIMEOUT} s) passed while exiting the factory; "
        "make the shutdown faster or raise shutdown_timeout",
    }
    assert (root.db.exit_calls, root.http.exit_calls) == (1, 1)
    assert server.returned


async def test_a_failure_the_factory_swallows_at_its_yield_is_still_reported() -> None:
    log: list[str] = []

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        try:
            yield inner_app(log, on_startup=lambda: fail("boom"))
        except StartupError:
            log.append("factory swallowed it")

    async with serve(LazyApp(main)) as server:
        reply = await server.startup()
    assert reply == {
        "type": "lifespan.startup.failed",
        "message": "the app sent lifespan.startup.failed: inner said boom",
    }
    assert log == ["inner startup", "factory swallowed it"]


async def test_startup_failed_then_waiting_is_reported_once_the_factory_closed() -> None:
    """No timeout is set: the app's final answer ends its startup, and it is cancelled."""

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no schema"})
        await anyio.sleep_forever()

    root = Composition(app=inner)
    async with serve(LazyApp(root.main), log=root.log) as server:
        reply = await server.startup()
    assert reply == {
        "type": "lifespan.startup.failed",
        "message": "the app sent lifespan.startup.failed: no schema",
    }
    assert root.log[-3:] == ["http close", "db close", "server got lifespan.startup.failed"]


async def test_a_startup_timeout_before_the_inner_app_receives_is_a_startup_failure() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep_forever()  # hangs before its first receive()

    root = Composition(app=inner)
    app = LazyApp(root.main, startup_timeout=TIMEOUT)
    async with serve(app) as server:
        reply = await server.startup()
    assert reply["type"] == "lifespan.startup.failed"
    assert f"startup_timeout ({TIMEOUT} s) passed while" in reply["message"]
    with pytest.raises(NotStartedError, match="failed to start"):
        await app(http_scope(), no_receive, no_send)
