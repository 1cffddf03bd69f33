"""No resource closes under a running request. Every teardown (the server's lifespan.shutdown,
a crash while serving, aclose() in first-request mode) stops forwarding requests, waits until
none of those LazyApp forwarded is still running, then gives the inner app its shutdown and
exits the factory. shutdown_timeout bounds the wait, and the server hears how many were left."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lazgi import LazyApp, NotStartedError
from lazgi._types import ASGIApp, Message, Receive, Scope, Send

from .conftest import BOUND, Server, serve
from .fakes import Resource, http_scope, inner_app, no_receive, no_send

pytestmark = pytest.mark.anyio


class Held:
    """A composition root whose app holds each request until `release` is set; at its end, a
    request records whether the database it uses was still open."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.db = Resource("db", self.log)
        self.arrived = anyio.Event()
        self.release = anyio.Event()
        self.die = anyio.Event()  # a background worker of the factory's dies when set

    async def request(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.work()

    async def work(self) -> None:
        self.arrived.set()
        await self.release.wait()
        await self.use_db()

    async def use_db(self) -> None:
        self.log.append(f"request used db {'closed' if self.db.exit_calls else 'open'}")

    async def worker(self) -> None:
        await self.die.wait()
        raise RuntimeError("background worker died")

    @asynccontextmanager
    async def main(self) -> AsyncGenerator[ASGIApp]:
        async with self.db, anyio.create_task_group() as tasks:
            tasks.start_soon(self.worker)
            yield inner_app(self.log, on_request=self.request)
            tasks.cancel_scope.cancel()


class Heard(logging.Handler):
    """A context in which the event it gives is set once the lazgi logger says `words`."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words = words
        self.event = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()

    def __enter__(self) -> anyio.Event:
        logging.getLogger("lazgi").addHandler(self)
        return self.event

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger("lazgi").removeHandler(self)


async def until(event: anyio.Event) -> None:
    with anyio.fail_after(BOUND):
        await event.wait()


@asynccontextmanager
async def serving_a_held_request(
    held: Held, kind: str = "http"
) -> AsyncGenerator[tuple[LazyApp[ASGIApp], Server, TaskGroup]]:
    """Held's app started under a scripted server, with one request (http, or a websocket)
    arrived and held."""
    app = LazyApp(held.main)
    async with serve(app) as server, anyio.create_task_group() as tasks:
        await server.startup()
        tasks.start_soon(app, http_scope(type=kind), no_receive, no_send)
        await held.arrived.wait()
        yield app, server, tasks


async def refused(app: LazyApp[ASGIApp]) -> str:
    """The text of the NotStartedError a request gets now."""
    with pytest.raises(NotStartedError) as info:
        await app(http_scope(), no_receive, no_send)
    return str(info.value)


# A request served, then the teardown: the resource was open for the whole request.
IN_ORDER = [
    "db open",
    "inner startup",
    "inner http",
    "request used db open",
    "inner shutdown",
    "db close",
]


class TestEveryTeardownWaits:
    """A request in flight sees the resources open to its end, whatever began the teardown."""

    @pytest.mark.parametrize("kind", ["http", "websocket"])
    async def test_the_servers_shutdown(self, kind: str) -> None:
        held = Held()
        async with serving_a_held_request(held, kind) as (app, server, tasks):
            with Heard("LazyApp(Held.main) waits for 1 request to end") as waiting:
                tasks.start_soon(server.shutdown)
                await until(waiting)
            text = await refused(app)  # and no new one reaches the inner app
            assert "is shutting down" in text
            assert "lifespan on" not in text  # that fix fits only an app that never started
            assert server.types() == ["lifespan.startup.complete"]
            assert held.log == ["db open", "inner startup", f"inner {kind}"]
            held.release.set()
        assert held.log == [entry.replace("http", kind) for entry in IN_ORDER]
        assert server.types() == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    async def test_a_crash_while_serving(self) -> None:
        held = Held()
        async with serving_a_held_request(held) as (app, server, _):
            with Heard("LazyApp(Held.main) waits for 1 request to end") as waiting:
                held.die.set()
                await until(waiting)
            assert "is shutting down" in await refused(app)
            assert held.log == ["db open", "inner startup", "inner http"]
            with Heard("LazyApp(Held.main) crashed while running") as crashed:
                held.release.set()
                await until(crashed)
            assert await server.shutdown() == {
                "type": "lifespan.shutdown.failed",
                "message": "the app crashed while running: RuntimeError: background worker died",
            }
        assert held.log == [
            "db open",
            "inner startup",
            "inner http",
            "request used db open",
            "db close",  # the inner app was cancelled where it waited, after the request
        ]
        assert (held.db.entered, held.db.exited) == (1, 1)

    async def test_aclose_of_an_app_a_first_request_started(self) -> None:
        held = Held()
        app = LazyApp(held.main, start_on_first_request=True)
        closed = anyio.Event()

        async def close() -> None:
            await app.aclose()
            held.log.append("aclose returned")
            closed.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(app, http_scope(), no_receive, no_send)
            await held.arrived.wait()
            tasks.start_soon(close)
            await anyio.wait_all_tasks_blocked()
            assert not closed.is_set()
            held.release.set()
        assert held.log == [*IN_ORDER, "aclose returned"]

    async def test_work_after_the_response_sees_the_resources_open(self) -> None:
        """Starlette runs a BackgroundTask inside the app's call, after the final body."""
        held = Held()
        answered = anyio.Event()

        @asynccontextmanager
        async def main() -> AsyncGenerator[Starlette]:
            async def home(request: Request) -> PlainTextResponse:
                return PlainTextResponse("ok", background=BackgroundTask(held.work))

            async with held.db:
                yield Starlette(routes=[Route("/", home)])

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.set()

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        app = LazyApp(main)
        async with serve(app) as server, anyio.create_task_group() as tasks:
            await server.startup()
            tasks.start_soon(app, http_scope(), receive, send)
            await answered.wait()  # the client has its whole answer
            tasks.start_soon(server.shutdown)
            await anyio.wait_all_tasks_blocked()
            assert held.log == ["db open"]
            held.release.set()
        assert held.log == ["db open", "request used db open", "db close"]
        assert server.types() == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


class TestARequestHasEnded:
    """A call that returned, raised or was cancelled holds up no teardown."""

    async def test_when_it_raised_or_was_cancelled(self) -> None:
        async def on_request(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] == "/raise":
                raise ValueError("handler failed")
            await anyio.sleep_forever()

        log: list[str] = []
        app = LazyApp(lambda: inner_app(log, on_request=on_request))
        async with serve(app) as server:
            await server.startup()
            with pytest.raises(ValueError, match="handler failed"):
                await app(http_scope(path="/raise"), no_receive, no_send)
            with anyio.move_on_after(0.01):
                await app(http_scope(path="/hang"), no_receive, no_send)
            with anyio.fail_after(BOUND):
                assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
        assert log == ["inner startup", "inner http", "inner http", "inner shutdown"]

    async def test_nothing_is_waited_for_with_nothing_in_flight(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        held = Held()
        held.release.set()
        app = LazyApp(held.main)
        async with serve(app) as server:
            await server.startup()
            await app(http_scope(), no_receive, no_send)
            await server.shutdown()
        assert not [r for r in caplog.records if "waits for" in r.getMessage()]


class TestBoundedByShutdownTimeout:
    """shutdown_timeout bounds the wait: then the teardown goes on, and says how many were
    still running; without it LazyApp waits, as for any slow shutdown."""

    async def test_the_teardown_goes_on_and_the_server_hears_how_many_ran(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        held = Held()
        app = LazyApp(held.main, shutdown_timeout=0.05)
        async with serve(app) as server, anyio.create_task_group() as tasks:
            await server.startup()
            for _ in range(2):
                tasks.start_soon(app, http_scope(), no_receive, no_send)
            await held.arrived.wait()
            await server.shutdown()
            assert held.log[-2:] == ["inner shutdown", "db close"]  # without them
            held.release.set()
        words = "shutdown_timeout (0.05 s) passed with 2 requests it forwarded still running"
        assert server.types()[-1] == "lifespan.shutdown.failed"
        assert words in server.sent[-1]["message"]
        assert "bound what a request does" in server.sent[-1]["message"]
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert [words in r.getMessage() for r in errors] == [True]
        waiting = [r.getMessage() for r in caplog.records if "waits for" in r.getMessage()]
        assert waiting == ["LazyApp(Held.main) waits for 2 requests to end"]
        assert held.log.count("request used db closed") == 2  # what the bound costs
        assert (held.db.entered, held.db.exited) == (1, 1)

    async def test_the_wait_and_the_apps_shutdown_share_one_timeout(self) -> None:
        log: list[str] = []

        async def slow(scope: Scope, receive: Receive, send: Send) -> None:
            await anyio.sleep(0.1)  # the request runs for 0.1 s of the 0.15
            log.append("request done")

        async def slow_shutdown() -> None:
            await anyio.sleep(0.1)  # would fit in the timeout alone, not after the wait
            log.append("app shutdown done")  # pragma: no cover - it is cut short

        @asynccontextmanager
        async def main() -> AsyncGenerator[ASGIApp]:
            async with Resource("db", log):
                yield inner_app(log, on_request=slow, on_shutdown=slow_shutdown)

        app = LazyApp(main, shutdown_timeout=0.15)
        async with serve(app) as server, anyio.create_task_group() as tasks:
            await server.startup()
            tasks.start_soon(app, http_scope(), no_receive, no_send)
            await anyio.wait_all_tasks_blocked()
            await server.shutdown()
        assert server.types()[-1] == "lifespan.shutdown.failed"
        words = "shutdown_timeout (0.15 s) passed while the app handled lifespan.shutdown"
        assert words in server.sent[-1]["message"]
        assert log == [
            *("db open", "inner startup", "inner http", "request done", "inner shutdown"),
            "db close",  # the factory's exit still had time of its own
        ]

    async def test_what_one_lifespan_left_running_never_holds_up_the_next(self) -> None:
        held = Held()
        app = LazyApp(held.main, shutdown_timeout=0.05)
        async with anyio.create_task_group() as tasks:
            async with serve(app) as server:
                await server.startup()
                tasks.start_soon(app, http_scope(), no_receive, no_send)
                await held.arrived.wait()
                assert (await server.shutdown())["type"] == "lifespan.shutdown.failed"
            async with serve(app) as server:  # the first lifespan's request still runs
                await server.startup()
                with anyio.fail_after(BOUND):
                    assert await server.shutdown() == {"type": "lifespan.shutdown.complete"}
            held.release.set()
