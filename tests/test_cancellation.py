"""LazyApp when its lifespan task is cancelled (hypercorn does it; so do test runners), and
factories that hold anyio task groups and cancel scopes across their yield."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette

from lazgi import LazyApp
from lazgi._types import ASGIApp, Receive, Scope, Send

from .conftest import BOUND, Server, serve
from .fakes import Resource, inner_app

pytestmark = pytest.mark.anyio


class Gates:
    """Events that let a test hold the lifespan at one stage, and see that it got there."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.reached = anyio.Event()
        self.release = anyio.Event()

    async def at(self, stage: str) -> None:
        if stage == self.stage:
            self.reached.set()
            await self.release.wait()


def assert_ended_truthfully(server: Server) -> None:
    """A cancelled call ended without error, and told the server nothing, or the truth."""
    assert server.error is None
    assert server.types() in (
        ["lifespan.startup.complete"],
        ["lifespan.startup.complete", "lifespan.shutdown.complete"],
    )


def staged(log: list[str], gates: Gates) -> LazyApp[ASGIApp]:
    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with Resource("db", log):
            await gates.at("factory enter")
            yield inner_app(
                log,
                on_startup=lambda: gates.at("inner startup"),
                on_shutdown=lambda: finish_shutdown(),
            )
            await gates.at("factory exit")

    async def finish_shutdown() -> None:
        await gates.at("inner shutdown")
        log.append("inner shutdown finished")

    return LazyApp(main)


@pytest.mark.parametrize("stage", ["factory enter", "inner startup"])
async def test_cancelled_during_startup_exits_what_was_entered_once(stage: str) -> None:
    log: list[str] = []
    gates = Gates(stage)
    async with serve(staged(log, gates)) as server, anyio.create_task_group() as tasks:
        tasks.start_soon(server.startup)
        await gates.reached.wait()
        server.call_scope.cancel()
        await server.finished()
        tasks.cancel_scope.cancel()
    assert server.call_scope.cancelled_caught
    assert server.sent == []
    assert log.count("db open") == 1
    if stage == "inner startup":
        # The factory was entered, so its exit is shielded and completes.
        assert log[-1] == "db close"
        assert log.count("db close") == 1


def with_cleanup(log: list[str]) -> ASGIApp:
    """An inner app whose lifespan cleanup awaits, as closing a real resource does."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        log.append("inner startup")
        await send({"type": "lifespan.startup.complete"})
        try:
            await receive()
            log.append("inner shutdown")  # pragma: no cover - the tests cancel before this
        finally:
            await anyio.lowlevel.checkpoint()
            log.append("inner cleanup")

    return app


async def test_cancelled_while_running_the_inner_app_unwinds_shielded_and_all_closes_once() -> None:
    log: list[str] = []

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with Resource("db", log):
            yield with_cleanup(log)

    async with serve(LazyApp(main)) as server:
        await server.startup()
        await server.wait_receiving()
        server.call_scope.cancel()
    assert server.call_scope.cancelled_caught
    # The cancellation reaches the inner app where it waits; its cleanup, which awaits, runs.
    assert log == ["db open", "inner startup", "inner cleanup", "db close"]
    assert server.types() == ["lifespan.startup.complete"]


@pytest.mark.parametrize("stage", ["inner shutdown", "factory exit"])
async def test_cancelled_during_teardown_the_teardown_still_completes(stage: str) -> None:
    log: list[str] = []
    gates = Gates(stage)
    async with serve(staged(log, gates)) as server, anyio.create_task_group() as tasks:
        await server.startup()
        tasks.start_soon(server.shutdown)
        await gates.reached.wait()
        server.call_scope.cancel()
        await anyio.lowlevel.checkpoint()
        gates.release.set()
        await server.finished()
        tasks.cancel_scope.cancel()
    assert log == [
        "db open",
        "inner startup",
        "inner shutdown",
        "inner shutdown finished",
        "db close",
    ]
    assert_ended_truthfully(server)


async def test_shielded_teardown_is_still_bounded_by_shutdown_timeout() -> None:
    log: list[str] = []
    hanging = anyio.Event()

    async def hang() -> None:
        hanging.set()
        await anyio.sleep_forever()

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with Resource("db", log):
            yield inner_app(log, on_shutdown=hang)

    async with serve(LazyApp(main, shutdown_timeout=0.05)) as server:
        await server.startup()
        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(server.shutdown)
                await hanging.wait()  # the inner app hangs in its shutdown...
                server.call_scope.cancel()  # ...so the server gives up: the call still ends
                await server.finished()
                tasks.cancel_scope.cancel()
    assert log == ["db open", "inner startup", "inner shutdown", "db close"]


def task_group_factory(log: list[str], app: ASGIApp) -> LazyApp[ASGIApp]:
    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(anyio.sleep_forever)
                log.append("task group open")
                yield app
                tasks.cancel_scope.cancel()
        finally:
            log.append("task group closed")

    return LazyApp(main, startup_timeout=5, shutdown_timeout=5)


async def test_a_factory_may_hold_a_task_group_across_its_yield_with_timeouts_set() -> None:
    log: list[str] = []
    app = task_group_factory(log, inner_app(log))
    for _ in range(2):
        async with serve(app) as server:
            assert await server.startup() == {"type": "lifespan.startup.complete"}
            assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
    assert log == ["task group open", "inner startup", "inner shutdown", "task group closed"] * 2


async def test_a_factory_task_group_is_closed_when_the_lifespan_is_cancelled() -> None:
    log: list[str] = []
    async with serve(task_group_factory(log, inner_app(log))) as server:
        await server.startup()
        await server.wait_receiving()
        server.call_scope.cancel()
    assert log == ["task group open", "inner startup", "task group closed"]
    # trio's task group absorbs the Cancelled thrown in at the yield (it would be raised again
    # at the server's next checkpoint), so LazyApp may go on to report the shutdown.
    assert server.error is None
    assert server.sent[0] == {"type": "lifespan.startup.complete"}
    assert len(server.sent) in (1, 2)


async def fail(text: str) -> None:
    raise ValueError(text)


async def test_an_inner_failure_inside_a_factory_task_group_is_reported_unwrapped() -> None:
    log: list[str] = []
    app = task_group_factory(log, inner_app(log, on_startup=lambda: fail("no schema")))
    async with serve(app) as server:
        reply = await server.startup()
    assert reply == {
        "type": "lifespan.startup.failed",
        "message": "the app sent lifespan.startup.failed: inner said no schema",
    }


async def test_an_error_in_a_factory_task_is_reported_as_itself_not_as_a_group(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(fail, "worker died")
            await anyio.sleep_forever()
        yield inner_app([])  # pragma: no cover - the task group raised

    async with serve(LazyApp(main)) as server:
        reply = await server.startup()
    assert reply == {"type": "lifespan.startup.failed", "message": "ValueError: worker died"}
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


async def test_several_errors_in_a_group_are_all_named() -> None:
    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(fail, "one")
            tasks.start_soon(fail, "two")
            await anyio.sleep_forever()
        yield inner_app([])  # pragma: no cover - the task group raised

    async with serve(LazyApp(main)) as server:
        reply = await server.startup()
    assert sorted(reply["message"].split("; ")) == ["ValueError: one", "ValueError: two"]


def framework_app(framework: str, log: list[str], gates: Gates) -> ASGIApp:
    """A real Starlette or FastAPI app whose lifespan stops at the gate's stage."""

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncGenerator[None]:
        await gates.at("inner startup")
        log.append("inner started")
        yield
        await gates.at("inner shutdown")
        log.append("inner stopped")

    if framework == "fastapi":
        return FastAPI(lifespan=lifespan)
    return Starlette(lifespan=lifespan)


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
@pytest.mark.parametrize("stage", ["inner startup", "running", "inner shutdown", "factory exit"])
async def test_cancelling_a_real_framework_inner_app_at_any_stage_ends_and_closes_once(
    framework: str, stage: str
) -> None:
    """Starlette's lifespan answers a cancellation with an unasked *.failed; LazyApp takes that
    as its reaction, not a protocol error, and the call ends with everything closed once."""
    log: list[str] = []
    gates = Gates(stage)

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with Resource("db", log):
            yield framework_app(framework, log, gates)
            await gates.at("factory exit")

    async with serve(LazyApp(main)) as server, anyio.create_task_group() as tasks:
        if stage == "inner startup":
            tasks.start_soon(server.startup)
        else:
            await server.startup()
        if stage == "running":
            await server.wait_receiving()
        else:
            if stage != "inner startup":
                tasks.start_soon(server.shutdown)
            await gates.reached.wait()
        server.call_scope.cancel()
        gates.release.set()
        await server.finished()  # bounded: before the fix this hung
        tasks.cancel_scope.cancel()
    assert server.error is None
    assert (log.count("db open"), log.count("db close")) == (1, 1)
    assert log[-1] == "db close"
    kinds = server.types()
    assert "crash" not in str(server.sent)
    if stage == "inner startup":
        assert kinds == []
    elif stage == "running":
        assert kinds == ["lifespan.startup.complete"]
    else:  # a shutdown under way runs to its end
        assert "inner stopped" in log
        assert_ended_truthfully(server)
