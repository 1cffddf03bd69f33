"""Inner apps that break the lifespan protocol, one row of the README's table each: the server
always hears a clear outcome once per stage (or an interrupt propagates), nothing hangs, and
the factory's resource is closed exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import pytest

from lazgi import LazyApp
from lazgi._types import ASGIApp, Message, Receive, Scope, Send

from .conftest import BOUND, Resource, serve

pytestmark = pytest.mark.anyio
TIMEOUT = 0.05


@dataclass(frozen=True)
class Row:
    steps: tuple[str, ...]  # what the inner app does, in order
    replies: tuple[str, ...]  # the server hears, in order: "<type>" or "<type>: <words>"


def scripted(steps: tuple[str, ...]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for step in steps:
            if step == "receive":
                await receive()
            elif step == "hang":
                await anyio.sleep_forever()
            elif step == "no message":
                await send({"type": "lifespan.startup.failed"})
            else:
                await send({"type": f"lifespan.{step}"})

    return app


ROWS = {
    "sends startup.complete twice": Row(
        ("receive", "startup.complete", "startup.complete", "receive", "shutdown.complete"),
        (
            "lifespan.startup.complete",
            "lifespan.shutdown.failed: crashed while running: RuntimeError: the app sent "
            "'lifespan.startup.complete' while the lifespan protocol expected nothing",
        ),
    ),
    "sends shutdown.complete during startup": Row(
        ("receive", "shutdown.complete"),
        (
            "lifespan.startup.failed: sent 'lifespan.shutdown.complete' while the lifespan "
            "protocol expected lifespan.startup.complete or lifespan.startup.failed",
        ),
    ),
    "sends an unknown message type": Row(
        ("receive", "hello"),
        ("lifespan.startup.failed: the app sent 'lifespan.hello'",),
    ),
    "reports a failure with no message": Row(
        ("receive", "no message"),
        ("lifespan.startup.failed: the app sent lifespan.startup.failed: ",),
    ),
    "never calls receive: returns at once": Row(
        (),
        ("lifespan.startup.complete", "lifespan.shutdown.complete"),
    ),
    "never calls receive: answers startup, returns": Row(
        ("startup.complete",),
        ("lifespan.startup.complete", "lifespan.shutdown.complete"),
    ),
    "calls receive after shutdown": Row(
        ("receive", "startup.complete", "receive", "shutdown.complete", "receive"),
        (
            "lifespan.startup.complete",
            "lifespan.shutdown.failed: receive() after lifespan.shutdown",
        ),
    ),
    "blocks forever in startup": Row(
        ("receive", "hang"),
        ("lifespan.startup.failed: startup_timeout (0.05 s) passed while the app handled",),
    ),
    "blocks forever in shutdown": Row(
        ("receive", "startup.complete", "receive", "hang"),
        (
            "lifespan.startup.complete",
            "lifespan.shutdown.failed: shutdown_timeout (0.05 s) passed while the app handled",
        ),
    ),
    "blocks before its first receive()": Row(
        ("hang",),
        ("lifespan.startup.failed: startup_timeout (0.05 s) passed while the app handled",),
    ),
    "answers startup.failed, then blocks": Row(
        ("receive", "startup.failed", "hang"),
        ("lifespan.startup.failed: the app sent lifespan.startup.failed",),
    ),
}


def lazy(inner: ASGIApp, log: list[str]) -> tuple[LazyApp[ASGIApp], Resource]:
    db = Resource("db", log)

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with db:
            yield inner

    return LazyApp(main, startup_timeout=TIMEOUT, shutdown_timeout=TIMEOUT), db


@pytest.mark.parametrize("name", ROWS)
async def test_a_misbehaving_inner_app_gets_a_clear_outcome_once(name: str) -> None:
    row = ROWS[name]
    log: list[str] = []
    app, db = lazy(scripted(row.steps), log)
    with anyio.fail_after(BOUND):
        async with serve(app) as server:
            await server.startup()
            if server.sent[0]["type"] == "lifespan.startup.complete":
                await server.shutdown()
    assert len(server.sent) == len(row.replies), server.sent
    for message, expected in zip(server.sent, row.replies, strict=True):
        kind, _, words = expected.partition(": ")
        assert message["type"] == kind
        assert words in message.get("message", ""), (message, words)
    assert (db.entered, db.exit_calls, db.exited) == (1, 1, 1)
    assert server.returned


INTERRUPTS = {
    "KeyboardInterrupt in startup": (KeyboardInterrupt, "startup"),
    "SystemExit in shutdown": (SystemExit, "shutdown"),
}


@pytest.mark.parametrize("name", INTERRUPTS)
async def test_an_interrupt_from_the_inner_app_propagates_after_closing_everything(
    name: str,
) -> None:
    interrupt, where = INTERRUPTS[name]

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        if where == "startup":
            raise interrupt
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise interrupt

    log: list[str] = []
    app, db = lazy(inner, log)
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[Message] = []

    async def receive() -> Message:
        return next(events)

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(interrupt):  # caught here, before it could stop the test run
        await app({"type": "lifespan", "state": {}}, receive, send)
    assert (db.exit_calls, db.exited) == (1, 1)
    assert [m["type"] for m in sent] == (
        [] if where == "startup" else ["lifespan.startup.complete"]
    )


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio's Cancelled cannot be raised by hand
async def test_a_cancelled_error_raised_by_the_inner_app_propagates_as_a_cancellation() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise asyncio.CancelledError

    log: list[str] = []
    app, db = lazy(inner, log)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)  # pragma: no cover - nothing is reported for a cancellation

    with pytest.raises(asyncio.CancelledError):
        await app({"type": "lifespan", "state": {}}, receive, send)
    assert (db.exit_calls, db.exited) == (1, 1)
    assert sent == []
