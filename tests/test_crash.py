"""An app that crashes while running: a task of the factory's task group dies, or the inner
app's lifespan fails, after startup.complete and before the server asked it to stop. LazyApp
stops serving at once, tears down once, logs the cause, tells the server nothing out of turn,
and answers its shutdown with shutdown.failed; exit_on_crash=True also sends its process
SIGTERM. lazgi.lifespan() raises ShutdownError when its block ends."""

from __future__ import annotations

import re
import signal
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager, contextmanager
from types import FrameType

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import lazgi
from lazgi import LazyApp, NotStartedError, ShutdownError
from lazgi._types import ASGIApp, Receive, Scope, Send

from .conftest import BOUND, serve
from .fakes import Resource, http_scope, inner_app, no_receive, no_send

pytestmark = pytest.mark.anyio


class Crashing:
    """A composition root with a database and a background worker that dies when told to."""

    def __init__(
        self, inner: ASGIApp | None = None, *, on_exit: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.log: list[str] = []
        self.db = Resource("db", self.log)
        self.die = anyio.Event()
        self.closed = anyio.Event()  # the factory's exit ended
        self.inner = inner or waiting_app(self.log)
        self.on_exit = on_exit  # awaited first in the factory's exit

    async def worker(self) -> None:
        await self.die.wait()
        raise RuntimeError("background worker died")

    @asynccontextmanager
    async def main(self) -> AsyncGenerator[ASGIApp]:
        try:
            async with self.db, anyio.create_task_group() as tasks:
                tasks.start_soon(self.worker)
                try:
                    yield self.inner
                finally:
                    if self.on_exit is not None:
                        await self.on_exit()
                tasks.cancel_scope.cancel()
        finally:
            self.closed.set()

    async def crash(self) -> None:
        self.die.set()
        await self.torn_down()

    async def torn_down(self) -> None:
        with anyio.fail_after(BOUND):
            await self.closed.wait()


def waiting_app(log: list[str]) -> ASGIApp:
    """An inner app whose lifespan cleanup awaits, as closing a real resource does; it logs
    each request it serves."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            log.append("inner request")
            return
        await receive()
        await send({"type": "lifespan.startup.complete"})
        try:
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
        finally:
            await anyio.lowlevel.checkpoint()  # cancelled again unless shielded
            log.append("inner cleanup")

    return app


def crashes_when(crash: anyio.Event, error: str) -> ASGIApp:
    """An inner app whose lifespan starts, then raises ValueError(error) once `crash` is set."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await crash.wait()
        raise ValueError(error)

    return app


def crashed_request_error(app: LazyApp[ASGIApp]) -> str:
    """What a request gets from a crashed app: asserts it is NotStartedError, returns its text."""
    with pytest.raises(NotStartedError) as info:
        app(http_scope(), no_receive, no_send).send(None)
    return str(info.value)


class TestWhileServing:
    """A crash stops serving at once and tears down once, before the server says anything."""

    async def test_a_dying_factory_task_tears_down_at_once_and_closes_once(self) -> None:
        crashing = Crashing()
        app = LazyApp(crashing.main)
        async with serve(app) as server:
            await server.startup()
            await app(http_scope(), no_receive, no_send)
            await crashing.crash()
            # The inner app got the cancellation where it waited; its cleanup ran shielded.
            assert crashing.log == ["db open", "inner request", "inner cleanup", "db close"]
            assert server.sent == [{"type": "lifespan.startup.complete"}]  # nothing out of turn
            reply = await server.shutdown()
        assert reply == {
            "type": "lifespan.shutdown.failed",
            "message": "the app crashed while running: RuntimeError: background worker died",
        }
        assert (crashing.db.entered, crashing.db.exited) == (1, 1)
        assert server.returned

    async def test_requests_after_the_crash_are_refused_with_the_cause_and_the_fix(self) -> None:
        crashing = Crashing()
        app = LazyApp(crashing.main)
        async with serve(app) as server:
            await server.startup()
            await crashing.crash()
            text = crashed_request_error(app)
            with pytest.raises(NotStartedError, match="crashed while running"):
                await app({"type": "websocket"}, no_receive, no_send)
            await server.shutdown()
        assert "LazyApp(Crashing.main) crashed while running" in text
        assert "RuntimeError: background worker died" in text
        assert "exit_on_crash=True" in text
        assert "lifespan on" not in text  # the lifespan ran: that fix would not fit
        assert "inner request" not in crashing.log

    async def test_the_crash_is_logged_at_error_with_the_cause_and_traceback(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        crashing = Crashing()
        async with serve(LazyApp(crashing.main)) as server:
            await server.startup()
            await crashing.crash()
            (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
            await server.shutdown()
        assert record.name == "lazgi"
        assert record.getMessage() == (
            "LazyApp(Crashing.main) crashed while running: RuntimeError: background worker died"
        )
        assert record.exc_info is not None
        assert record.exc_info[0] is RuntimeError

    async def test_the_inner_lifespan_raising_while_running_tears_down_at_once(self) -> None:
        crash = anyio.Event()
        crashing = Crashing(crashes_when(crash, "cache refresher died"))
        app = LazyApp(crashing.main)
        async with serve(app) as server:
            await server.startup()
            crash.set()
            await crashing.torn_down()
            assert crashing.log == ["db open", "db close"]
            assert "ValueError: cache refresher died" in crashed_request_error(app)
            reply = await server.shutdown()
        assert reply["type"] == "lifespan.shutdown.failed"
        assert reply["message"] == (
            "the app crashed while running: ValueError: cache refresher died"
        )

    async def test_a_starlette_app_whose_own_task_dies_is_a_crash_not_a_protocol_error(
        self,
    ) -> None:
        """Starlette's lifespan sends shutdown.failed unasked and re-raises when its own task
        group dies: LazyApp sees a crash with the task's error as the cause."""
        die = anyio.Event()

        async def refresher() -> None:
            await die.wait()
            raise ValueError("cache refresher died")

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncGenerator[None]:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(refresher)
                yield

        crashing = Crashing(Starlette(lifespan=lifespan))
        app = LazyApp(crashing.main)
        async with serve(app) as server:
            await server.startup()
            die.set()
            await crashing.torn_down()
            assert crashing.log == ["db open", "db close"]
            assert server.sent == [{"type": "lifespan.startup.complete"}]
            reply = await server.shutdown()
        assert reply == {
            "type": "lifespan.shutdown.failed",
            "message": "the app crashed while running: ValueError: cache refresher died",
        }

    async def test_an_app_reporting_its_own_crash_is_named_with_its_own_words(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Starlette sends lifespan.shutdown.failed unasked, with the error's text, when its
        lifespan fails: each report of the crash carries that text."""
        report = anyio.Event()

        async def inner(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await report.wait()
            await send({"type": "lifespan.shutdown.failed", "message": "lost the database"})

        crashing = Crashing(inner)
        app = LazyApp(crashing.main)
        async with serve(app) as server:
            await server.startup()
            report.set()
            await crashing.torn_down()
            refusal = crashed_request_error(app)
            (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
            reply = await server.shutdown()
        cause = "the app sent lifespan.shutdown.failed: lost the database"
        assert f"LazyApp(Crashing.main) crashed while running ({cause})" in refusal
        assert record.getMessage() == f"LazyApp(Crashing.main) crashed while running: {cause}"
        assert reply == {
            "type": "lifespan.shutdown.failed",
            "message": f"the app crashed while running: {cause}",
        }

    async def test_a_teardown_that_times_out_keeps_the_crashs_cause_and_traceback(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        crash = anyio.Event()
        # A close that hangs: shutdown_timeout ends it.
        crashing = Crashing(
            crashes_when(crash, "cache refresher died"), on_exit=anyio.sleep_forever
        )
        async with serve(LazyApp(crashing.main, shutdown_timeout=0.05)) as server:
            await server.startup()
            crash.set()
            await crashing.torn_down()
            reply = await server.shutdown()
        (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
        cause = (
            "ValueError: cache refresher died; shutdown_timeout (0.05 s) passed while exiting "
            "the factory; make the shutdown faster or raise shutdown_timeout"
        )
        assert record.getMessage() == f"LazyApp(Crashing.main) crashed while running: {cause}"
        assert reply["message"] == f"the app crashed while running: {cause}"
        assert record.exc_info is not None
        crashed = record.exc_info[1]  # the crash, raised, with its traceback: not the timeout
        assert crashed is not None
        assert isinstance(crashed.__cause__, ValueError)
        assert record.exc_info[2] is not None

    async def test_requests_refused_during_its_teardown_name_a_known_crash_and_its_fix(
        self,
    ) -> None:
        crash, go_on, in_teardown = anyio.Event(), anyio.Event(), anyio.Event()

        async def teardown() -> None:
            in_teardown.set()
            await go_on.wait()

        crashing = Crashing(crashes_when(crash, "cache refresher died"), on_exit=teardown)
        app = LazyApp(crashing.main)
        async with serve(app) as server:
            await server.startup()
            crash.set()
            with anyio.fail_after(BOUND):
                await in_teardown.wait()
            text = crashed_request_error(app)
            go_on.set()
            await crashing.torn_down()
            await server.shutdown()
        assert "Crashing.main) crashed while running (ValueError: cache refresher died), so" in text
        assert "exit_on_crash=True" in text
        assert "lifespan on" not in text

    async def test_an_inner_app_that_returns_after_startup_is_served_on(self) -> None:
        async def inner(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await receive()
                await send({"type": "lifespan.startup.complete"})
                return  # nothing left to stop: not a crash
            log.append("inner request")

        log: list[str] = []
        crashing = Crashing(inner)
        app = LazyApp(crashing.main)
        async with serve(app) as server:
            await server.startup()
            await app(http_scope(), no_receive, no_send)
            assert crashing.log == ["db open"]
            assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
        assert log == ["inner request"]
        assert crashing.log == ["db open", "db close"]


class TestTheServersSide:
    """The server hears the crash only when it asks: at its shutdown, or not at all."""

    async def test_a_server_that_cancels_instead_of_shutting_down_hears_nothing(self) -> None:
        crashing = Crashing()
        async with serve(LazyApp(crashing.main)) as server:
            await server.startup()
            await crashing.crash()
            await server.wait_receiving()
            server.call_scope.cancel()
        assert server.sent == [{"type": "lifespan.startup.complete"}]
        assert server.error is None
        assert crashing.db.exited == 1

    async def test_a_later_lifespan_after_a_crash_starts_a_fresh_app(self) -> None:
        crashing = Crashing()
        app = LazyApp(crashing.main)
        async with serve(app) as server:
            await server.startup()
            await crashing.crash()
            await server.shutdown()
        crashing.die, crashing.closed = anyio.Event(), anyio.Event()
        async with serve(app) as server:
            assert await server.startup() == {"type": "lifespan.startup.complete"}
            await app(http_scope(), no_receive, no_send)
            assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
        assert crashing.db.entered == crashing.db.exited == 2
        assert crashing.log.count("inner request") == 1


@contextmanager
def sigterm_recorded(log: list[str]) -> Generator[list[str]]:
    """A real SIGTERM handler for this test process, recording each signal in `log`."""

    def handler(signum: int, frame: FrameType | None) -> None:
        log.append("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield log
    finally:
        signal.signal(signal.SIGTERM, previous)


class TestExitOnCrash:
    """exit_on_crash=True sends the process SIGTERM once, after the teardown; the default
    sends nothing, so an in-process test runner is never signalled."""

    async def test_the_process_gets_sigterm_once_after_the_teardown(self) -> None:
        crashing = Crashing()
        app = LazyApp(crashing.main, exit_on_crash=True)
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async with serve(app) as server:
                await server.startup()
                crashing.die.set()
                with anyio.fail_after(BOUND):
                    async for signum in signals:
                        crashing.log.append(signal.Signals(signum).name)
                        break
                text = crashed_request_error(app)
                reply = await server.shutdown()
        assert "sent its process SIGTERM (exit_on_crash=True)" in text
        assert "pass exit_on_crash" not in text
        assert crashing.log == ["db open", "inner cleanup", "db close", "SIGTERM"]
        assert reply["type"] == "lifespan.shutdown.failed"

    async def test_by_default_no_signal_is_sent(self) -> None:
        crashing = Crashing()
        with sigterm_recorded(crashing.log):
            async with serve(LazyApp(crashing.main)) as server:
                await server.startup()
                await crashing.crash()
                await server.shutdown()
        assert "SIGTERM" not in crashing.log


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class TestFirstRequestMode:
    """With start_on_first_request=True a crash ends the app's own lifespan: the first
    request after the teardown starts a fresh one."""

    async def test_the_next_request_after_the_teardown_starts_a_fresh_app(self) -> None:
        calls: list[Crashing] = []
        finish_teardown = anyio.Event()

        @asynccontextmanager
        async def main() -> AsyncGenerator[ASGIApp]:
            crashing = Crashing()
            calls.append(crashing)

            async def home(request: Request) -> PlainTextResponse:
                return PlainTextResponse(f"app{len(calls)}")

            crashing.inner = Starlette(routes=[Route("/", home)])
            try:
                async with crashing.main() as inner:
                    yield inner
            finally:
                await finish_teardown.wait()

        app = LazyApp(main, start_on_first_request=True, shutdown_timeout=BOUND)
        async with client(app) as http:
            assert (await http.get("/")).text == "app1"
            await calls[0].crash()  # torn down up to the gate
            with pytest.raises(NotStartedError, match="is shutting down"):
                await http.get("/")
            finish_teardown.set()
            refusals: list[str] = []
            with anyio.fail_after(BOUND):
                while True:  # the crashed app's own lifespan ends; then a request starts anew
                    try:
                        text = (await http.get("/")).text
                        break
                    except NotStartedError as exc:
                        refusals.append(str(exc))
                    await anyio.sleep(0.01)  # polling with a bound
            assert text == "app2"
            for refusal in refusals:
                assert re.search(r"shutting down|crashed while running \(RuntimeError", refusal)
        await app.aclose()
        assert [(c.db.entered, c.db.exited) for c in calls] == [(1, 1), (1, 1)]


class TestLifespanContextManager:
    """lazgi.lifespan(): a crash while the block runs raises ShutdownError as it ends."""

    async def test_leaving_the_block_raises_shutdown_error_naming_the_crash(self) -> None:
        crash = anyio.Event()
        with pytest.raises(ShutdownError) as info:
            async with lazgi.lifespan(crashes_when(crash, "queue consumer died")):
                crash.set()
        assert str(info.value) == "the app crashed while running: ValueError: queue consumer died"
        assert isinstance(info.value.__cause__, ValueError)

    async def test_a_crash_of_a_lazy_app_inside_it_is_named_too(self) -> None:
        crashing = Crashing()
        with pytest.raises(ShutdownError, match="crashed while running") as info:
            async with lazgi.lifespan(LazyApp(crashing.main)):
                await crashing.crash()
        assert "RuntimeError: background worker died" in str(info.value)

    async def test_the_blocks_own_error_wins_and_carries_the_crash_as_a_note(self) -> None:
        async def inner(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()
            await send({"type": "lifespan.startup.complete"})
            raise ValueError("queue consumer died")

        with pytest.raises(KeyError) as info:
            async with lazgi.lifespan(inner):
                raise KeyError("the block's own")
        (note,) = info.value.__notes__
        assert "crashed while running: ValueError: queue consumer died" in note


async def test_a_crash_after_shutdown_was_asked_is_a_shutdown_failure_not_a_crash() -> None:
    """Failing while it stops is reported as the shutdown's failure, as before."""

    async def fail() -> None:
        raise ValueError("flush failed")

    async with serve(LazyApp(lambda: inner_app([], on_shutdown=fail))) as server:
        await server.startup()
        reply = await server.shutdown()
    assert reply["type"] == "lifespan.shutdown.failed"
    assert "crashed" not in reply["message"]
