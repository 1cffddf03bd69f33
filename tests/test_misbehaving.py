"""Apps that break the lifespan protocol, one row of the README's table each, held to the same
outcome under both drivers: under LazyApp the server hears a clear outcome once per stage (or an
interrupt propagates), nothing hangs, and the factory's resources close exactly once; under
`lifespan()` the same words arrive as the failed event's error."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from lazgi import LazyApp, ShutdownError, StartupError, lifespan
from lazgi._types import ASGIApp, Message, Receive, Scope, Send

from .conftest import BOUND, serve
from .fakes import MISBEHAVIOUR, TIMEOUT, Composition, Scripted

pytestmark = pytest.mark.anyio


def lazy(inner: ASGIApp) -> tuple[LazyApp[ASGIApp], Composition]:
    root = Composition(inner)
    return root.lazy(startup_timeout=TIMEOUT, shutdown_timeout=TIMEOUT), root


@pytest.mark.parametrize("name", MISBEHAVIOUR)
async def test_lazy_app_answers_each_stage_once(name: str) -> None:
    row = MISBEHAVIOUR[name]
    app, root = lazy(Scripted(*row.steps))
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
    assert (root.db.entered, root.db.exit_calls, root.db.exited) == (1, 1, 1)
    assert server.returned


@pytest.mark.parametrize("name", MISBEHAVIOUR)
async def test_lifespan_raises_the_failed_events_error(name: str) -> None:
    row = MISBEHAVIOUR[name]
    failed = [reply for reply in row.replies if ".failed" in reply]
    app = Scripted(*row.steps)
    with anyio.fail_after(BOUND):
        if not failed:
            async with lifespan(app, startup_timeout=TIMEOUT, shutdown_timeout=TIMEOUT):
                await anyio.lowlevel.checkpoint()
            return
        kind, _, words = failed[0].partition(": ")
        error = StartupError if kind == "lifespan.startup.failed" else ShutdownError
        with pytest.raises(error) as caught:
            async with lifespan(app, startup_timeout=TIMEOUT, shutdown_timeout=TIMEOUT):
                await anyio.lowlevel.checkpoint()
    assert type(caught.value) is error
    assert words in str(caught.value)


INTERRUPTS = {
    "KeyboardInterrupt in startup": (KeyboardInterrupt, "startup"),
    "SystemExit in shutdown": (SystemExit, "shutdown"),
}


def interrupting(interrupt: type[BaseException], where: str) -> ASGIApp:
    """An inner app that raises `interrupt` in its startup or in its shutdown."""

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        if where == "startup":
            raise interrupt
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise interrupt

    return inner


@pytest.mark.parametrize("name", INTERRUPTS)
async def test_an_interrupt_from_the_inner_app_propagates_after_closing_everything(
    name: str,
) -> None:
    interrupt, where = INTERRUPTS[name]
    app, root = lazy(interrupting(interrupt, where))
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[Message] = []

    async def receive() -> Message:
        return next(events)

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(interrupt):  # caught here, before it could stop the test run
        await app({"type": "lifespan", "state": {}}, receive, send)
    assert (root.db.exit_calls, root.db.exited) == (1, 1)
    assert [m["type"] for m in sent] == (
        [] if where == "startup" else ["lifespan.startup.complete"]
    )


@pytest.mark.parametrize("name", INTERRUPTS)
async def test_an_interrupt_from_the_app_propagates_out_of_lifespan_in_the_callers_task(
    name: str,
) -> None:
    """lifespan() runs the app in a task of its own; what escapes it is raised in the caller."""
    interrupt, where = INTERRUPTS[name]
    app, root = lazy(interrupting(interrupt, where))
    with pytest.raises(interrupt):
        async with lifespan(app):
            assert where == "shutdown"
    assert (root.db.exit_calls, root.db.exited) == (1, 1)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio's Cancelled cannot be raised by hand
async def test_a_cancelled_error_raised_by_the_inner_app_propagates_as_a_cancellation() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise asyncio.CancelledError

    app, root = lazy(inner)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)  # pragma: no cover - nothing is reported for a cancellation

    with pytest.raises(asyncio.CancelledError):
        await app({"type": "lifespan", "state": {}}, receive, send)
    assert (root.db.exit_calls, root.db.exited) == (1, 1)
    assert sent == []


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio's Cancelled cannot be raised by hand
async def test_a_cancelled_error_raised_by_the_app_propagates_out_of_lifespan() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        async with lifespan(inner):
            pytest.fail("the block must not run")  # pragma: no cover
