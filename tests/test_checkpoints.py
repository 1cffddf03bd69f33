"""Cancellation at every checkpoint: the await points of a lifespan (the server's receive and
send, the factory's resources, the inner app's startup and shutdown) are counted in a clean
run; then the lifespan task is cancelled at each one in turn. Every time: the call ends, every
context that was entered was exited exactly once, and the server heard no stage twice."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import pytest

from lazgi import LazyApp
from lazgi._types import ASGIApp, Message, Receive, Scope, Send

from .conftest import BOUND

pytestmark = pytest.mark.anyio


class Checkpoints:
    """Counts await points; cancels `scope` at the `target`-th one (0: never)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.passed = 0
        self.scope = anyio.CancelScope()
        self.entered: list[str] = []
        self.exited: list[str] = []  # exits called
        self.closed: list[str] = []  # exits that ran to their end
        self.yielded = False  # the factory finished entering: its teardown is shielded

    async def point(self) -> None:
        self.passed += 1
        if self.passed == self.target:
            self.scope.cancel()
        await anyio.lowlevel.checkpoint()

    @asynccontextmanager
    async def context(self, name: str) -> AsyncGenerator[None]:
        """A context whose enter and exit both await, like a real resource's."""
        await self.point()
        self.entered.append(name)
        try:
            await self.point()
            yield
        finally:
            self.exited.append(name)
            await self.point()
            self.closed.append(name)


def checkpointed(points: Checkpoints) -> LazyApp[ASGIApp]:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        async with points.context("inner lifespan"):
            await points.point()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await points.point()
        await send({"type": "lifespan.shutdown.complete"})

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with points.context("db"), points.context("http"):
            points.yielded = True
            yield inner

    return LazyApp(main)


async def run(target: int) -> tuple[Checkpoints, list[Message]]:
    """One lifespan, startup then shutdown, cancelled at checkpoint `target`."""
    points = Checkpoints(target)
    app = checkpointed(points)
    sent: list[Message] = []
    to_app, inbox = anyio.create_memory_object_stream[Message](2)
    ended = anyio.Event()

    async def receive() -> Message:
        await points.point()
        return await inbox.receive()

    async def send(message: Message) -> None:
        sent.append(message)
        await points.point()

    async def lifespan() -> None:
        try:
            with points.scope:
                await app({"type": "lifespan", "state": {}}, receive, send)
        finally:
            ended.set()

    async def answered(count: int) -> None:
        while len(sent) < count and not ended.is_set():
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(BOUND):  # no hang, wherever the cancellation lands
        async with to_app, inbox, anyio.create_task_group() as tasks:
            tasks.start_soon(lifespan)
            await to_app.send({"type": "lifespan.startup"})
            await answered(1)
            if not ended.is_set():
                await to_app.send({"type": "lifespan.shutdown"})
            await ended.wait()
    return points, sent


async def test_a_clean_run_passes_every_checkpoint_and_closes_everything() -> None:
    points, sent = await run(target=0)
    assert points.passed >= 15
    assert points.entered == ["db", "http", "inner lifespan"]
    assert points.exited == points.closed == ["inner lifespan", "http", "db"]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_cancelled_at_any_checkpoint_everything_entered_exits_exactly_once() -> None:
    total = (await run(target=0))[0].passed
    for target in range(1, total + 1):
        points, sent = await run(target)
        assert sorted(points.exited) == sorted(points.entered), target
        kinds = [message["type"] for message in sent]
        if points.yielded:  # from here on teardown is shielded: it runs to its end
            assert {"db", "http"} <= set(points.closed), (target, points.closed)
        if "lifespan.startup.complete" in kinds:  # the inner app was running
            assert "inner lifespan" in points.closed, (target, points.closed)
        assert len([k for k in kinds if k.startswith("lifespan.startup.")]) <= 1, (target, kinds)
        assert len([k for k in kinds if k.startswith("lifespan.shutdown.")]) <= 1, (target, kinds)
        assert "lifespan.startup.failed" not in kinds, (target, kinds)  # cancelled, not failed
