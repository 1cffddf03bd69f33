"""LazyApp: the factory's context manager and the inner app's lifespan, entered on startup."""

# _Relay is LazyApp's own part, one per server lifespan: it sets LazyApp's private state.
# pyright: reportPrivateUsage=false

from __future__ import annotations

import enum
import inspect
import logging
import os
import signal
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar, cast, overload

import anyio

from ._errors import LifespanError, NotStartedError
from ._lifespan import Lifespan, StartedApp, arm, describe, logger
from ._types import ASGIApp, Message, Receive, Scope, Send

# Covariant: LazyApp only gives its app out, so a LazyApp[FastAPI] is a LazyApp[Starlette].
AppT = TypeVar("AppT", covariant=True)


class _Phase(enum.Enum):
    """Where a LazyApp is in its lifecycle, worded for error messages."""

    NEW = "has not started (no lifespan.startup has arrived)"
    STARTING = "is starting"
    RUNNING = "is running"
    STOPPING = "is shutting down"
    STOPPED = "has shut down"
    FAILED = "failed to start"
    CRASHED = "crashed while running"
    CANCELLED = "has stopped (its lifespan was cancelled or interrupted)"


class LazyApp(Generic[AppT]):
    """An ASGI app for a module global (`uvicorn main:app`) whose real app is built at startup.

    On lifespan startup it calls `factory` and enters what it returns (the composition root,
    usually an async context manager that opens resources and yields the app built with them),
    then runs that app's own lifespan startup. While running, every request goes to that app.
    On shutdown it stops the app, then closes the factory. The server is told the outcome of
    each stage exactly once, and a failure is reported to it, never raised at it. Requests while
    no app is running raise `NotStartedError`; nothing reaches an app that has not started.
    If the app crashes while running (the factory's context or the app's lifespan fails before
    the server asked it to stop), it stops serving at once, tears down, logs the cause, and
    answers the server's shutdown with `shutdown.failed`; `exit_on_crash=True` then also sends
    its own process SIGTERM, so that the server stops and a supervisor starts a fresh one.
    """

    @overload
    def __init__(
        self,
        factory: Callable[[], AbstractAsyncContextManager[AppT]],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
        exit_on_crash: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self,
        factory: Callable[[], AsyncIterator[AppT]],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
        exit_on_crash: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self,
        factory: Callable[[], Awaitable[AppT]],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
        exit_on_crash: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self,
        factory: Callable[[], AbstractContextManager[AppT]],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
        exit_on_crash: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self,
        factory: Callable[[], AppT],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
        exit_on_crash: bool = False,
    ) -> None: ...
    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = None,
        start_on_first_request: bool = False,
        exit_on_crash: bool = False,
    ) -> None:
        _check_factory(factory)
        if inspect.isasyncgenfunction(factory):
            factory = asynccontextmanager(factory)
        self._factory: Callable[[], Any] = factory
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._start_on_first_request = start_on_first_request
        self._exit_on_crash = exit_on_crash
        self._own: _OwnLifespan | None = None  # a lifespan this LazyApp runs for itself
        self._app: Any = None  # the inner app, while it runs
        self._forward: ASGIApp = self._refuse  # where requests go: the inner app, while it runs
        self._busy = False  # a lifespan holds this LazyApp
        self._phase = _Phase.NEW
        self._cause = ""  # what made it fail to start, or crash, for error messages
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
        phase = self._phase
        state = f"{phase.value} ({self._cause})" if self._cause else phase.value
        if self._start_on_first_request:
            fix = "It starts on a request when none runs: the next request tries again."
        elif phase is _Phase.CRASHED and self._exit_on_crash:
            fix = "It sent its process SIGTERM (exit_on_crash=True): the server stops, so that "
            fix += "its supervisor starts a fresh process."
        elif phase is _Phase.CRASHED:
            fix = (
                "It serves nothing until its process is restarted: pass exit_on_crash=True "
                "to LazyApp so that a crash stops the server and its supervisor starts a "
                "fresh process."
            )
        else:
            fix = (
                "The app is built on lifespan startup: run the server with lifespan on (uvicorn "
                "--lifespan on); in tests use `with TestClient(app)` or `async with "
                "lazgi.lifespan(app)`; or pass start_on_first_request=True."
            )
        return NotStartedError(f"{self!r} {state}, so there is no app for {what}. {fix}")

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
        self._busy, self._phase, self._cause = True, _Phase.STARTING, ""
        try:
            await _Relay(self, scope, receive, send).run()
        except BaseException:
            self._phase = _Phase.CANCELLED
            raise
        finally:
            self._busy, self._app, self._forward = False, None, self._refuse

    def _crashed(self, cause: str, errors: list[BaseException]) -> None:
        """The app crashed while running and was torn down: say so, and ask for a restart."""
        self._phase, self._cause = _Phase.CRASHED, cause
        logger.error("%r crashed while running: %s", self, cause, exc_info=_last(errors))
        if self._own is not None:  # its own lifespan ends: the next request starts afresh
            self._own.stop.set()
        if self._exit_on_crash:
            logger.error("%r sends its process SIGTERM (exit_on_crash=True)", self)
            os.kill(os.getpid(), signal.SIGTERM)


class _Relay:
    """LazyApp's side of one server lifespan, in the server's lifespan task: enter the factory,
    run the inner app's lifespan inside it, publish the app and tell the server it started,
    serve until the server asks to stop (or the app crashes), tear down, report once."""

    def __init__(self, lazy: LazyApp[Any], scope: Scope, receive: Receive, send: Send) -> None:
        self.lazy = lazy
        self.scope, self.receive, self.send = scope, receive, send
        # Teardown references live here, never in scope["state"]: granian empties that dict
        # before shutdown.
        self.state: dict[str, Any] = scope.get("state", {})
        self.errors: list[BaseException] = []
        self.stage = "entering the factory"
        self.clock = time.perf_counter()
        self.reported = False  # the server was told the app started
        self.asked = False  # the server sent lifespan.shutdown
        self.inner: Any = None
        # One cancel scope spans the factory's whole life, so that a task group the factory
        # holds across its yield nests inside it; its deadline and shield change per phase.
        self.life = anyio.CancelScope()

    async def run(self) -> None:
        lazy = self.lazy
        with self.life:
            arm(self.life, lazy._startup_timeout)
            try:
                async with _entered(lazy._factory()) as self.inner:
                    try:
                        await self.serve()
                    except Exception as exc:
                        _record(self.errors, exc)
                        raise
                    finally:
                        self.stage = "exiting the factory"
                        self.stop_serving()
                        arm(self.life, lazy._shutdown_timeout)
            except Exception as exc:  # the factory's own, or the above, maybe in a group
                _record(self.errors, exc)
        await self.report()

    async def serve(self) -> None:
        """Run the inner app's lifespan; return when the app stopped or failed."""
        _check_app(self.inner, self.lazy._factory)
        budget = _left(self.life.deadline)
        if budget is not None:
            self.life.deadline = float("inf")
        inner_scope = {**self.scope, "state": self.state}
        timeout = self.lazy._shutdown_timeout
        lifespan = Lifespan(self.inner, inner_scope, budget, timeout, shield=False)
        await lifespan.run(self.started, self.running)
        if lifespan.failure is not None:  # failed to start, or to stop, or crashed while running
            raise lifespan.failure
        if not lifespan.stopping:  # it has no lifespan support, or ended without failing
            if not self.reported:
                await self.started()
            await self.running()  # nothing is left to stop: serve on until shutdown

    async def started(self) -> None:
        """The inner app completed its startup: publish it, then tell the server."""
        lazy, inner = self.lazy, self.inner
        # A server without lifespan state gets it added to requests, as lifespan() does.
        state = self.state
        lazy._app, lazy._phase = inner, _Phase.RUNNING
        lazy._forward = inner if "state" in self.scope or not state else StartedApp(inner, state)
        if logger.isEnabledFor(logging.INFO):
            logger.info("%r started in %.1f ms", lazy, _ms(self.clock))
        self.reported = True
        await self.send({"type": "lifespan.startup.complete"})

    async def running(self) -> None:
        """Serve until the server sends lifespan.shutdown; an exception here (a cancellation,
        from the server or from the factory's own task group) ends serving too."""
        try:
            await self.receive()  # lifespan.shutdown
            self.asked = True
        finally:
            self.stop_serving()
        self.clock = time.perf_counter()

    def stop_serving(self) -> None:
        """From here on it is teardown: requests are refused, and the teardown runs to its end,
        cancelled or not, bounded by shutdown_timeout."""
        lazy = self.lazy
        self.life.shield = True
        lazy._app, lazy._forward = None, lazy._refuse
        if lazy._phase is _Phase.RUNNING:
            lazy._phase = _Phase.STOPPING

    async def report(self) -> None:
        """Tell the server the outcome, once, now that everything entered has been exited."""
        lazy, errors = self.lazy, self.errors
        if self.life.cancel_called:  # only the factory's enter and exit run under its deadline
            entering = self.stage == "entering the factory"
            which = "startup_timeout" if entering else "shutdown_timeout"
            seconds = lazy._startup_timeout if entering else lazy._shutdown_timeout
            errors.append(TimeoutError(f"{which} ({seconds} s) passed while {self.stage}"))
        summary = "; ".join(map(describe, errors))
        if not self.reported:
            lazy._phase, lazy._cause = _Phase.FAILED, summary
            logger.error("%r failed to start: %s", lazy, summary, exc_info=_last(errors))
            await self.send({"type": "lifespan.startup.failed", "message": summary})
            return
        if not self.asked:  # it stopped while running, before the server asked
            try:
                await anyio.lowlevel.checkpoint_if_cancelled()  # trio's task groups absorb it
            except BaseException:  # the server cancelled this lifespan: not a crash
                if errors:
                    logger.error("%r failed to shut down: %s", lazy, summary, exc_info=errors[-1])
                raise
            causes = "; ".join(describe(_underlying(error)) for error in errors)
            lazy._crashed(causes or "its factory's context exited by itself", errors)
            await self.receive()  # the server's lifespan.shutdown: answer nothing out of turn
            message = f"the app crashed while running: {lazy._cause}"
            await self.send({"type": "lifespan.shutdown.failed", "message": message})
            return
        lazy._phase = _Phase.STOPPED
        if errors:
            logger.error("%r failed to shut down: %s", lazy, summary, exc_info=errors[-1])
            await self.send({"type": "lifespan.shutdown.failed", "message": summary})
            return
        if logger.isEnabledFor(logging.INFO):
            logger.info("%r shut down in %.1f ms", lazy, _ms(self.clock))
        await self.send({"type": "lifespan.shutdown.complete"})


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


def _underlying(error: BaseException) -> BaseException:
    """What made the inner app's lifespan fail, rather than lazgi's error that says so."""
    return error.__cause__ or error if isinstance(error, LifespanError) else error


def _last(errors: list[BaseException]) -> BaseException | None:
    return errors[-1] if errors else None


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
