"""LazyApp: the factory's context manager and the inner app's lifespan, entered on startup."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar, cast, overload

import anyio

from ._errors import NotStartedError
from ._lifespan import Lifespan, StartedApp, arm, describe, logger
from ._types import ASGIApp, Message, Receive, Scope, Send

# Covariant: LazyApp only gives its app out, so a LazyApp[FastAPI] is a LazyApp[Starlette].
AppT = TypeVar("AppT", covariant=True)


class LazyApp(Generic[AppT]):
    """An ASGI app for a module global (`uvicorn main:app`) whose real app is built at startup.

    On lifespan startup it calls `factory` and enters what it returns (the composition root,
    usually an async context manager that opens resources and yields the app built with them),
    then runs that app's own lifespan startup. While running, every request goes to that app.
    On shutdown it stops the app, then closes the factory. The server is told the outcome of
    each stage exactly once, and a failure is reported to it, never raised at it. Requests while
    no app is running raise `NotStartedError`; nothing reaches an app that has not started.
    """

    @overload
    def __init__(
        self,
        factory: Callable[[], AbstractAsyncContextManager[AppT]],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self,
        factory: Callable[[], AsyncIterator[AppT]],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self,
        factory: Callable[[], Awaitable[AppT]],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self,
        factory: Callable[[], AbstractContextManager[AppT]],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self,
        factory: Callable[[], AppT],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
    ) -> None: ...
    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
    ) -> None:
        _check_factory(factory)
        if inspect.isasyncgenfunction(factory):
            factory = asynccontextmanager(factory)
        self._factory: Callable[[], Any] = factory
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._start_on_first_request = start_on_first_request
        self._own: _OwnLifespan | None = None  # a lifespan this LazyApp runs for itself
        self._app: Any = None  # the inner app, while it runs
        self._forward: ASGIApp = self._refuse  # where requests go: the inner app, while it runs
        self._busy = False  # a lifespan holds this LazyApp
        self._status = "has not started (no lifespan.startup has arrived)"  # for error messages
        self.__dict__["__call__"] = self._answers_asgi3  # see there

    @property
    def app(self) -> AppT:
        """The inner app while running; raises `NotStartedError` otherwise."""
        if self._app is None:
            raise self._not_started("the app")
        return cast(AppT, self._app)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # The hot path: one check, then the inner app's own coroutine, handed to the server to
        # await, so that no frame of LazyApp's stays between them. `_forward` is the inner app
        # while it runs. See `_answers_asgi3` for how servers still see a coroutine function.
        if scope["type"] != "lifespan":
            return self._forward(scope, receive, send)
        return self._lifespan(scope, receive, send)

    async def _answers_asgi3(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What `app.__call__` is, as an instance attribute. Servers tell ASGI 3 from ASGI 2 and
        WSGI by asking `iscoroutinefunction(app.__call__)` (uvicorn, hypercorn, daphne); a call
        `app(...)` goes to the class's `__call__` and never reads it. Called, it does the same."""
        await self(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Where requests go while no app runs: they fail, or, opted in, start the app."""
        if self._start_on_first_request:
            own = self._own
            if own is None and not self._busy:  # the first request: start, in a task of ours
                own = self._own = _OwnLifespan()
                _spawn(own, self._run_own(own))
            if own is not None:  # started by a request: wait for the outcome, with the others
                await own.ready.wait()
                if self._app is not None:
                    return await self._forward(scope, receive, send)
        raise self._not_started(f"this {scope['type']} request")

    async def aclose(self) -> None:
        """Stop an app that a first request started: the inner app's shutdown, then the
        factory's exit, in the task that started them. Does nothing if none runs; an app
        started by a server's lifespan is stopped by the server. Safe to call twice."""
        own = self._own
        if own is not None:
            own.stop.set()
            await own.ended.wait()

    async def _run_own(self, own: _OwnLifespan) -> None:
        try:
            await self._lifespan({"type": "lifespan", "asgi": OWN_ASGI}, own.receive, own.send)
        finally:
            self._own = None  # a failed start is tried again by the next request
            own.ready.set()
            own.ended.set()

    def __repr__(self) -> str:
        return f"LazyApp({_name(self._factory)})"

    def _not_started(self, what: str) -> NotStartedError:
        if self._start_on_first_request:
            fix = "It starts on a request when none runs: the next request tries again."
        else:
            fix = (
                "The app is built on lifespan startup: run the server with lifespan on (uvicorn "
                "--lifespan on); in tests use `with TestClient(app)` or `async with "
                "lazgi.lifespan(app)`; or pass start_on_first_request=True."
            )
        return NotStartedError(f"{self!r} {self._status}, so there is no app for {what}. {fix}")

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        if self._busy:
            await send(
                {
                    "type": "lifespan.startup.failed",
                    "message": f"{self!r} is already running in another lifespan; "
                    "a LazyApp serves one lifespan at a time, so use one LazyApp per server",
                }
            )
            return
        self._busy, self._status = True, "is starting"
        try:
            await self._run(scope, receive, send)
        except BaseException:
            self._status = "has stopped (its lifespan was cancelled or interrupted)"
            raise
        finally:
            self._busy, self._app, self._forward = False, None, self._refuse

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Teardown references live in these locals, never in scope["state"]: granian empties
        # that dict before shutdown.
        state: dict[str, Any] = scope.get("state", {})
        inner_scope = {**scope, "state": state}
        errors: list[BaseException] = []
        stage, clock = "entering the factory", time.perf_counter()
        reported = False  # told the server it started

        async def started() -> None:  # the inner app completed its startup
            nonlocal reported
            # A server without lifespan state gets it added to requests, as lifespan() does.
            self._app = inner
            self._forward = inner if "state" in scope or not state else StartedApp(inner, state)
            if logger.isEnabledFor(logging.INFO):
                logger.info("%r started in %.1f ms", self, _ms(clock))
            reported = True
            try:
                await send({"type": "lifespan.startup.complete"})
            except BaseException:  # cancelled as it reported: the app's teardown still runs
                life.shield = True
                raise

        async def running() -> None:  # the inner app waits for the server's shutdown
            nonlocal clock
            try:
                await receive()  # lifespan.shutdown
            finally:  # from here on it is teardown: it runs to its end, cancelled or not
                life.shield = True
            self._app, self._forward, self._status = None, self._refuse, "is shutting down"
            clock = time.perf_counter()

        # One cancel scope spans the factory's whole life, so that a task group the factory
        # holds across its yield nests inside it; its deadline and shield change per phase.
        with anyio.CancelScope() as life:
            arm(life, self._startup_timeout)
            try:
                async with _entered(self._factory()) as inner:
                    try:
                        _check_app(inner, self._factory)
                        budget = _left(life.deadline)
                        if budget is not None:
                            life.deadline = float("inf")
                        # The inner app's lifespan runs here, in the server's lifespan task.
                        lifespan = Lifespan(
                            inner, inner_scope, budget, self._shutdown_timeout, shield=False
                        )
                        await lifespan.run(started, running)
                        if lifespan.started and not lifespan.stopping:  # it ended early
                            if not reported:  # it has no lifespan support
                                await started()
                            await running()
                        if lifespan.failure is not None:
                            raise lifespan.failure
                    except Exception as exc:
                        _record(errors, exc)
                        raise
                    finally:
                        stage = "exiting the factory"
                        life.shield = True
                        arm(life, self._shutdown_timeout)
            except Exception as exc:  # the factory's own, or the above, maybe in a group
                _record(errors, exc)
        if life.cancel_called:  # only the factory's enter and exit run under life's deadline
            entering = stage == "entering the factory"
            which = "startup_timeout" if entering else "shutdown_timeout"
            seconds = self._startup_timeout if entering else self._shutdown_timeout
            errors.append(TimeoutError(f"{which} ({seconds} s) passed while {stage}"))
        summary = "; ".join(map(describe, errors))
        if not reported:
            self._status = f"failed to start ({summary})"
            logger.error("%r failed to start: %s", self, summary, exc_info=errors[-1])
            await send({"type": "lifespan.startup.failed", "message": summary})
            return
        self._status = "has shut down"
        if errors:
            logger.error("%r failed to shut down: %s", self, summary, exc_info=errors[-1])
            await send({"type": "lifespan.shutdown.failed", "message": summary})
            return
        if logger.isEnabledFor(logging.INFO):
            logger.info("%r shut down in %.1f ms", self, _ms(clock))
        await send({"type": "lifespan.shutdown.complete"})


def _entered(made: object) -> AbstractAsyncContextManager[Any]:
    """What the factory returned, as an async context manager to enter: itself, in the usual
    case, or one adapting each of the other accepted forms."""
    if isinstance(made, AbstractAsyncContextManager):
        return cast(AbstractAsyncContextManager[Any], made)
    return _adapted(made)


@asynccontextmanager
async def _adapted(made: object) -> AsyncGenerator[Any]:
    if isinstance(made, Awaitable):
        yield await made
    elif isinstance(made, AbstractContextManager):
        with cast(AbstractContextManager[Any], made) as app:
            yield app
    else:
        yield made


def _check_factory(factory: object) -> None:
    if not callable(factory):
        raise TypeError(
            f"LazyApp() takes a factory, a function with no arguments that builds the app; "
            f"got {factory!r}, which is not callable"
        )
    try:
        signature = inspect.signature(factory)
    except ValueError:  # some builtins have no signature; calling them will tell
        return
    try:
        signature.bind()
    except TypeError:
        raise TypeError(
            f"LazyApp() calls its factory with no arguments, but {_name(factory)}{signature} "
            "needs some. If it is an ASGI app, pass a function that builds the app instead, "
            "e.g. an async context manager that opens resources and yields the app."
        ) from None


def _check_app(app: object, factory: Callable[[], Any]) -> None:
    if not callable(app):
        raise TypeError(
            f"the factory {_name(factory)} produced {app!r} ({type(app).__name__}), which is "
            "not an ASGI app; it must yield or return the application callable"
        )


def _name(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or repr(obj)


def _left(deadline: float) -> float | None:
    return None if deadline == float("inf") else max(deadline - anyio.current_time(), 0.0)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _record(errors: list[BaseException], exc: BaseException) -> None:
    """Add the errors in `exc` not seen yet, looking through exception groups (a factory's
    task group wraps what it raises) so that each is reported as itself, once."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in cast(BaseExceptionGroup[BaseException], exc).exceptions:
            _record(errors, inner)
    elif exc not in errors:
        errors.append(exc)


OWN_ASGI = {"version": "3.0", "spec_version": "2.0"}


class _OwnLifespan:
    """The server's side of a lifespan LazyApp runs for itself, for servers that run none."""

    def __init__(self) -> None:
        self.ready = anyio.Event()  # the startup's outcome is known
        self.stop = anyio.Event()  # aclose() was called
        self.ended = anyio.Event()
        self.task: object = None  # asyncio keeps only weak references to tasks
        self._began = False

    async def receive(self) -> Message:
        if not self._began:
            self._began = True
            return {"type": "lifespan.startup"}
        await self.stop.wait()
        return {"type": "lifespan.shutdown"}

    async def send(self, message: Message) -> None:
        if message["type"].startswith("lifespan.startup."):
            self.ready.set()


def _spawn(own: _OwnLifespan, lifespan: Coroutine[Any, Any, None]) -> None:
    """Run `lifespan` in a long-lived task of the running backend's own, owned by no request:
    a factory's task group or cancel scope must be entered and exited in one task."""
    import asyncio  # here, not at the top: anyio too imports its backends only when used

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio, so trio
        import trio

        trio.lowlevel.spawn_system_task(lambda: lifespan)
    else:
        own.task = loop.create_task(lifespan)
