"""start_on_first_request=True: for servers that never run the lifespan (daphne, uvicorn
--lifespan off, a bare httpx.ASGITransport), the first request starts the app, in a task that
LazyApp owns, and aclose() stops it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lazgi import LazyApp, NotStartedError

from .conftest import serve
from .fakes import Resource

pytestmark = pytest.mark.anyio


class Composition:
    """A factory that counts its calls; each call opens a resource and builds a fresh app."""

    def __init__(self, *, failures: int = 0, hold: bool = False, tasks: bool = True) -> None:
        self.log: list[str] = []
        self.calls = 0
        self.failures = failures  # the first this many calls raise
        self.hold = hold  # each call waits for `release` before it goes on
        self.release = anyio.Event()
        self.tasks = tasks  # hold a task group across the yield (its cancellation is level)

    @asynccontextmanager
    async def main(self) -> AsyncGenerator[Starlette]:
        self.calls += 1
        call = self.calls
        if self.hold:
            await self.release.wait()
        if call <= self.failures:
            raise ConnectionRefusedError(f"database not up yet (call {call})")
        async with Resource(f"db{call}", self.log), anyio.create_task_group() as tasks:
            if self.tasks:
                tasks.start_soon(anyio.sleep_forever)  # a task group held across the yield

            @asynccontextmanager
            async def lifespan(app: Starlette) -> AsyncGenerator[None]:
                self.log.append(f"app{call} startup")
                yield
                self.log.append(f"app{call} shutdown")

            async def home(request: Request) -> PlainTextResponse:
                return PlainTextResponse(f"app{call}")

            yield Starlette(routes=[Route("/", home)], lifespan=lifespan)
            tasks.cancel_scope.cancel()


def client(app: LazyApp[Starlette]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_without_the_option_a_request_still_fails_closed_and_names_it() -> None:
    app = LazyApp(Composition().main)
    async with client(app) as http:
        with pytest.raises(NotStartedError, match="start_on_first_request=True"):
            await http.get("/")


async def test_the_first_request_starts_the_app_and_aclose_stops_it_in_order() -> None:
    composition = Composition()
    app = LazyApp(composition.main, start_on_first_request=True)
    async with client(app) as http:
        assert (await http.get("/")).text == "app1"
        assert (await http.get("/")).text == "app1"
    assert composition.log == ["db1 open", "app1 startup"]
    await app.aclose()
    assert composition.log == ["db1 open", "app1 startup", "app1 shutdown", "db1 close"]
    await app.aclose()  # idempotent
    assert composition.calls == 1
    async with client(app) as http:  # once closed, a request starts afresh
        assert (await http.get("/")).text == "app2"
    await app.aclose()
    assert composition.calls == 2


async def test_a_hundred_concurrent_first_requests_make_one_start_and_one_app() -> None:
    composition = Composition(hold=True)
    app = LazyApp(composition.main, start_on_first_request=True)
    bodies: list[str] = []

    async def get(http: httpx.AsyncClient) -> None:
        bodies.append((await http.get("/")).text)

    async with client(app) as http, anyio.create_task_group() as tasks:
        for _ in range(100):
            tasks.start_soon(get, http)
        await anyio.wait_all_tasks_blocked()  # every request waits for the one start
        assert composition.calls == 1
        composition.release.set()
    assert bodies == ["app1"] * 100
    await app.aclose()


async def test_a_failed_start_fails_every_waiting_request_then_the_next_one_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    composition = Composition(failures=1, hold=True)
    app = LazyApp(composition.main, start_on_first_request=True)
    errors: list[BaseException] = []

    async def get(http: httpx.AsyncClient) -> None:
        try:
            await http.get("/")
        except NotStartedError as exc:
            errors.append(exc)

    async with client(app) as http:
        async with anyio.create_task_group() as tasks:
            for _ in range(10):
                tasks.start_soon(get, http)
            await anyio.wait_all_tasks_blocked()
            composition.release.set()
        assert len(errors) == 10
        for error in errors:
            assert "failed to start (ConnectionRefusedError: database not up yet (call 1))" in str(
                error
            )
            assert "the next request tries again" in str(error)
        assert (await http.get("/")).text == "app2"  # not poisoned
    assert composition.calls == 2
    assert any(
        r.levelname == "ERROR" and "failed to start" in r.getMessage() for r in caplog.records
    )
    await app.aclose()


async def test_a_start_that_fails_before_its_first_await_is_tried_again_by_the_next_request() -> (
    None
):
    """Under asyncio's eager task factory (the asyncio-eager backend) the start task runs inside
    create_task() up to its first suspension: a factory that fails at once ends the start
    before LazyApp could keep a handle to it, and a kept finished start would refuse every
    later request with the first failure."""
    composition = Composition(failures=1)
    app = LazyApp(composition.main, start_on_first_request=True)
    async with client(app) as http:
        with pytest.raises(NotStartedError, match=r"database not up yet \(call 1\)"):
            await http.get("/")
        assert (await http.get("/")).text == "app2"
    assert composition.calls == 2
    await app.aclose()
    assert composition.log == ["db2 open", "app2 startup", "app2 shutdown", "db2 close"]


async def test_a_request_cancelled_while_it_waits_does_not_cancel_the_start() -> None:
    composition = Composition(hold=True)
    app = LazyApp(composition.main, start_on_first_request=True)
    async with client(app) as http:
        with anyio.move_on_after(0.01):  # the first request gives up; the start goes on
            await http.get("/")
        composition.release.set()
        assert (await http.get("/")).text == "app1"
    assert composition.calls == 1
    await app.aclose()
    assert composition.log[-1] == "db1 close"


async def test_one_app_at_a_time_a_lifespan_is_refused_while_a_request_started_one() -> None:
    composition = Composition()
    app = LazyApp(composition.main, start_on_first_request=True)
    async with client(app) as http:
        await http.get("/")
    async with serve(app) as server:
        reply = await server.startup()
    assert reply["type"] == "lifespan.startup.failed"
    assert "already running" in reply["message"]
    await app.aclose()
    async with serve(app) as server:  # closed: a server's lifespan starts afresh
        assert await server.startup() == {"type": "lifespan.startup.complete"}
        async with client(app) as http:
            assert (await http.get("/")).text == "app2"
        await server.shutdown()
    await app.aclose()  # nothing of its own runs: nothing to do
    assert composition.calls == 2


async def test_aclose_during_the_start_stops_the_app_once_it_started() -> None:
    composition = Composition(hold=True)
    app = LazyApp(composition.main, start_on_first_request=True)
    outcomes: list[str] = []

    async def get(http: httpx.AsyncClient) -> None:
        try:
            outcomes.append((await http.get("/")).text)
        except NotStartedError as exc:  # the shutdown began before this request resumed
            outcomes.append("refused" if "is shutting down" in str(exc) else str(exc))

    async with client(app) as http, anyio.create_task_group() as tasks:
        tasks.start_soon(get, http)
        await anyio.wait_all_tasks_blocked()
        tasks.start_soon(app.aclose)
        await anyio.wait_all_tasks_blocked()
        composition.release.set()
    assert composition.log == ["db1 open", "app1 startup", "app1 shutdown", "db1 close"]
    assert outcomes in (["app1"], ["refused"])


async def test_while_a_servers_lifespan_is_starting_a_request_is_refused_not_a_second_start() -> (
    None
):
    composition = Composition(hold=True)
    app = LazyApp(composition.main, start_on_first_request=True)
    async with serve(app) as server, anyio.create_task_group() as tasks:
        tasks.start_soon(server.startup)
        await anyio.wait_all_tasks_blocked()  # the server's lifespan waits in the factory
        async with client(app) as http:
            with pytest.raises(NotStartedError, match="is starting"):
                await http.get("/")
        composition.release.set()
        await server.wait_receiving()
        await server.shutdown()
    assert composition.calls == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
def test_an_event_loop_that_ends_while_a_request_started_app_runs_closes_it_once(
    anyio_backend: str,
) -> None:
    """Nobody called aclose(): the loop's end cancels the app's task, and the factory's exit
    still runs, once; the next loop's first request starts a fresh app."""
    composition = Composition(tasks=False)
    app = LazyApp(composition.main, start_on_first_request=True)

    async def one_request() -> str:
        async with client(app) as http:
            return (await http.get("/")).text

    assert anyio.run(one_request, backend=anyio_backend) == "app1"  # returns: nothing hangs
    assert composition.log == ["db1 open", "app1 startup", "db1 close"]
    assert anyio.run(one_request, backend=anyio_backend) == "app2"
    assert composition.log[3:] == ["db2 open", "app2 startup", "db2 close"]
