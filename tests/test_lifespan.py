"""lazgi.lifespan(app): any app's lifespan as an async context manager, for tests and for
sub-apps a router never starts."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lazgi import LazyApp, ShutdownError, StartupError, lifespan
from lazgi._lifespan import describe
from lazgi._types import ASGIApp, Receive, Scope, Send

from .conftest import BOUND
from .fakes import NORMAL, Scripted, http_scope, inner_app, no_receive, no_send

pytestmark = pytest.mark.anyio
T = TypeVar("T")


async def test_lifespan_sends_startup_in_a_spec_scope_and_shutdown_on_exit() -> None:
    app = Scripted(*NORMAL)
    async with lifespan(app) as started:
        assert app.got == [
            {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}},
            "lifespan.startup",
        ]
        assert started.app is app
        assert started.state is app.got[0]["state"]
    assert app.got[1:] == ["lifespan.startup", "lifespan.shutdown"]


async def test_lifespan_state_reaches_requests_through_asgi_transport() -> None:
    @asynccontextmanager
    async def starlette_lifespan(app: Starlette) -> AsyncGenerator[dict[str, Any]]:
        yield {"greeting": "hello"}

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.greeting)

    app = Starlette(routes=[Route("/", home)], lifespan=starlette_lifespan)
    async with lifespan(app) as started:
        assert started.state == {"greeting": "hello"}
        transport = httpx.ASGITransport(app=started)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/")
    assert response.text == "hello"


async def test_started_app_adds_a_state_copy_only_to_requests_without_one() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["k"] = "v"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
        else:
            seen.append(scope)

    async with lifespan(app) as started:
        bare: dict[str, Any] = {"type": "http"}
        own: dict[str, Any] = {"type": "websocket", "state": {"mine": 1}}
        other: dict[str, Any] = {"type": "webtransport"}
        for scope in (bare, own, other):
            await started(scope, no_receive, no_send)
    assert seen == [bare, own, other]
    assert bare["state"] == {"k": "v"}
    assert bare["state"] is not started.state
    assert own["state"] == {"mine": 1}
    assert "state" not in other


async def test_a_started_app_does_not_run_its_lifespan_again() -> None:
    app = Scripted(*NORMAL)
    async with lifespan(app) as started, lifespan(started) as again:
        assert again.app is started
    assert app.got[1:] == ["lifespan.startup", "lifespan.shutdown"]


async def test_startup_failed_raises_startup_error_with_the_apps_message_at_once() -> None:
    app = Scripted("receive", "startup.failed no database")
    with anyio.fail_after(1), pytest.raises(StartupError, match="no database"):
        async with lifespan(app):
            pytest.fail("the block must not run")  # pragma: no cover


async def test_startup_failed_then_raise_chains_the_raised_exception() -> None:
    app = Scripted("receive", "startup.failed said so", "raise boom")
    with pytest.raises(StartupError, match="said so") as info:
        async with lifespan(app):
            pytest.fail("the block must not run")  # pragma: no cover
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_a_raise_after_the_first_receive_is_a_startup_error_chained_from_it() -> None:
    app = Scripted("receive", "raise kaput")
    with pytest.raises(StartupError, match="raised RuntimeError: kaput during startup") as info:
        async with lifespan(app):
            pytest.fail("the block must not run")  # pragma: no cover
    assert isinstance(info.value.__cause__, RuntimeError)
    assert str(info.value.__cause__) == "kaput"


@pytest.mark.parametrize("steps", [(), ("raise no lifespan here",)])
async def test_an_app_without_lifespan_support_is_yielded_anyway(steps: tuple[str]) -> None:
    app = Scripted(*steps)
    async with lifespan(app) as started:
        assert started.app is app
    assert len(app.got) == 1  # called once, received nothing


async def test_shutdown_failed_raises_shutdown_error() -> None:
    app = Scripted(*NORMAL[:3], "shutdown.failed could not flush")
    with pytest.raises(ShutdownError, match="could not flush"):
        async with lifespan(app):
            pass


async def test_a_raise_during_shutdown_is_a_shutdown_error_chained_from_it() -> None:
    app = Scripted(*NORMAL[:3], "raise kaput")
    with pytest.raises(ShutdownError, match="RuntimeError: kaput during shutdown") as info:
        async with lifespan(app):
            pass
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_when_the_block_raises_shutdown_runs_and_the_block_error_propagates() -> None:
    app = Scripted(*NORMAL)
    with pytest.raises(KeyError, match="from the block"):
        async with lifespan(app):
            raise KeyError("from the block")
    assert app.got[1:] == ["lifespan.startup", "lifespan.shutdown"]


async def test_when_the_block_and_the_shutdown_fail_the_block_error_carries_a_note() -> None:
    app = Scripted(*NORMAL[:3], "shutdown.failed could not flush")
    with pytest.raises(KeyError) as info:
        async with lifespan(app):
            raise KeyError("from the block")
    assert any("could not flush" in note for note in info.value.__notes__)


async def test_startup_timeout_raises_startup_error_naming_it() -> None:
    app = Scripted("receive", "hang")
    with pytest.raises(
        StartupError,
        match=r"startup_timeout \(0\.05 s\) passed while the app handled lifespan\.startup",
    ):
        async with lifespan(app, startup_timeout=0.05):
            pytest.fail("the block must not run")  # pragma: no cover


async def test_shutdown_timeout_raises_shutdown_error_naming_it() -> None:
    app = Scripted(*NORMAL[:2], "receive", "hang")
    with pytest.raises(
        ShutdownError,
        match=r"shutdown_timeout \(0\.05 s\) passed while the app handled lifespan\.shutdown",
    ):
        async with lifespan(app, shutdown_timeout=0.05):
            pass


async def test_an_app_that_returns_without_answering_startup_is_a_startup_error() -> None:
    app = Scripted("receive")
    with pytest.raises(StartupError, match=r"returned after receiving lifespan\.startup"):
        async with lifespan(app):
            pytest.fail("the block must not run")  # pragma: no cover


async def test_a_failure_message_may_be_missing() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed"})

    with pytest.raises(StartupError, match=r"lifespan\.startup\.failed: $"):
        async with lifespan(app):
            pytest.fail("the block must not run")  # pragma: no cover


async def test_lifespan_of_a_lazy_app_nests_and_a_factory_may_start_sub_apps() -> None:
    log: list[str] = []

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with lifespan(inner_app(log)) as sub:
            log.append("sub started")
            yield sub

    async with lifespan(LazyApp(main)) as started:
        await started({"type": "http"}, no_receive, no_send)
    assert log == ["inner startup", "sub started", "inner http", "inner shutdown"]


async def test_describe_names_every_error_in_a_group() -> None:
    group = ExceptionGroup(
        "wrapper", [ValueError("a"), KeyError("b"), ExceptionGroup("x", [OSError()])]
    )
    assert describe(group) == "ValueError: a; KeyError: 'b'; OSError"


async def test_lifespan_of_a_lazy_app_whose_factory_fails_raises_startup_error() -> None:
    def factory() -> ASGIApp:
        raise ConnectionRefusedError("db:5432")

    with pytest.raises(StartupError, match="ConnectionRefusedError: db:5432"):
        async with lifespan(LazyApp(factory)):
            pytest.fail("the block must not run")  # pragma: no cover


async def test_cancelling_the_block_still_runs_the_apps_shutdown() -> None:
    log: list[str] = []
    with anyio.move_on_after(0.01) as scope:
        async with lifespan(inner_app(log)):
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert log == ["inner startup", "inner shutdown"]


async def test_cancelling_during_startup_stops_the_app() -> None:
    log: list[str] = []
    with anyio.move_on_after(0.01) as scope:
        async with lifespan(inner_app(log, on_startup=anyio.sleep_forever)):
            pytest.fail("the block must not run")  # pragma: no cover
    assert scope.cancelled_caught
    assert log == ["inner startup"]


class TestAFinalAnswerEndsTheEvent:
    """After startup.failed the app is done: an app that goes on is cancelled where it waits,
    so the failure is raised at once, with no timeout set."""

    async def test_startup_failed_then_waiting_raises_at_once_and_cancels_the_app(self) -> None:
        log: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no schema"})
            try:
                await anyio.sleep_forever()
            finally:
                log.append("cancelled where it waited")

        with anyio.fail_after(BOUND), pytest.raises(StartupError, match="no schema"):
            async with lifespan(app):
                pytest.fail("the block must not run")  # pragma: no cover
        assert log == ["cancelled where it waited"]

    async def test_a_startup_timeout_before_the_first_receive_is_a_startup_failure(self) -> None:
        app = Scripted("hang")  # hangs before it ever receives
        with pytest.raises(
            StartupError,
            match=r"startup_timeout \(0\.05 s\) passed while the app handled lifespan\.startup",
        ):
            async with lifespan(app, startup_timeout=0.05):
                pytest.fail("an app that hung is not served as one without lifespan")
        assert len(app.got) == 1  # the scope only: it never received


async def in_a_task(call: Callable[[], Awaitable[T]]) -> T:
    """Await `call()` in a task of its own, as pytest-asyncio runs a fixture's setup and then,
    in another task, its teardown."""
    results: list[T] = []
    errors: list[Exception] = []

    async def run() -> None:
        try:
            results.append(await call())
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run)
    if errors:
        raise errors[0]
    return results[0]


class TestEnteredInOneTaskExitedInAnother:
    """The app's lifespan runs in a task lazgi owns, so the `async with` may be entered in one
    task and exited in another, with every guarantee it has in one."""

    async def test_a_lazy_app_holding_a_task_group_starts_serves_and_stops_once(self) -> None:
        log: list[str] = []

        @asynccontextmanager
        async def main() -> AsyncGenerator[ASGIApp]:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(anyio.sleep_forever)  # held across the yield
                log.append("factory enter")
                yield inner_app(log)
                tasks.cancel_scope.cancel()
            log.append("factory exit")

        block = lifespan(LazyApp(main))
        started = await in_a_task(block.__aenter__)
        await started(http_scope(), no_receive, no_send)
        assert await in_a_task(partial(block.__aexit__, None, None, None)) is None
        assert log == [
            "factory enter",
            "inner startup",
            "inner http",
            "inner shutdown",
            "factory exit",
        ]

    async def test_a_startup_failure_raises_in_the_entering_task(self) -> None:
        block = lifespan(Scripted("receive", "startup.failed no schema"))
        with pytest.raises(StartupError, match="no schema"):
            await in_a_task(block.__aenter__)

    async def test_a_shutdown_failure_raises_in_the_exiting_task(self) -> None:
        block = lifespan(Scripted("receive", "startup.complete", "receive", "shutdown.failed x"))
        await in_a_task(block.__aenter__)
        with pytest.raises(ShutdownError, match=r"lifespan\.shutdown\.failed: x"):
            await in_a_task(partial(block.__aexit__, None, None, None))

    async def test_a_cancelled_exiting_task_still_waits_for_the_whole_shutdown(self) -> None:
        log: list[str] = []
        finish = anyio.Event()

        async def on_shutdown() -> None:
            with anyio.CancelScope(shield=True):  # outlasts the exiting task's cancellation
                await finish.wait()
            log.append("shutdown finished")

        block = lifespan(inner_app(log, on_shutdown=on_shutdown))
        await in_a_task(block.__aenter__)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(block.__aexit__, None, None, None)
            await anyio.wait_all_tasks_blocked()
            tasks.cancel_scope.cancel()
            finish.set()
        assert log == ["inner startup", "inner shutdown", "shutdown finished"]
