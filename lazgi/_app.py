"""LazyApp: construction, the hot path, and what it says when there is no app to serve."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar, cast, overload

from ._errors import NotStartedError
from ._first_request import Starter
from ._lifecycle import Lifecycle, Phase
from ._relay import Relay, Settings
from ._types import Receive, Scope, Send

# Covariant: LazyApp only gives its app out, so a LazyApp[FastAPI] is a LazyApp[Starlette].
AppT = TypeVar("AppT", covariant=True)


class LazyApp(Generic[AppT]):
    """An ASGI app for a module global (`uvicorn main:app`) whose real app is built at startup.

    On lifespan startup it calls `factory` and enters what it returns (the composition root,
    usually an async context manager that opens resources and yields the app built with them),
    then runs that app's own lifespan startup. While running, every request goes to that app.
    On shutdown, and at every other teardown, it stops forwarding requests, waits for those it
    forwarded to end, stops the app, then closes the factory: no resource closes under a
    request still running (`shutdown_timeout` bounds that wait). The server is told the outcome of
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
        name = f"LazyApp({_name(factory)})"
        if inspect.isasyncgenfunction(factory):
            factory = asynccontextmanager(factory)
        self._settings = Settings(name, factory, startup_timeout, shutdown_timeout, exit_on_crash)
        self._start_on_first_request = start_on_first_request
        self._life = Lifecycle(self._refuse, Phase.NEW)  # this lifespan's, or the last one's
        self._starter: Starter | None = None  # a lifespan this LazyApp runs for itself

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The request path: one check, then the inner app, counted, so that no teardown
        # closes a resource under a request still running.
        if scope["type"] != "lifespan":
            life = self._life
            life.calls += 1
            try:
                await life.forward(scope, receive, send)
            finally:
                life.calls -= 1
                if life.idle is not None and not life.calls:
                    life.idle.set()
            return
        await self._lifespan(scope, receive, send)

    @property
    def app(self) -> AppT:
        """The inner app while running; raises `NotStartedError` otherwise."""
        app = self._life.app
        if app is None:
            raise self._not_started("the app")
        return cast(AppT, app)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Where requests go while no app runs: they fail, or, opted in, start the app."""
        if self._start_on_first_request:
            starter = self._starter
            if starter is None and self._life.ended:  # the first request: start, in a task
                # Kept before it runs: an eager task can end inside spawn() (Python 3.12+).
                starter = self._starter = Starter(self._lifespan, self._starter_ended)
                starter.spawn()
            if starter is not None:  # started by a request: wait for the outcome, with the others
                await starter.ready.wait()
                if self._life.serving:
                    return await self(scope, receive, send)
        raise self._not_started(f"this {scope['type']} request")

    def _starter_ended(self) -> None:
        self._starter = None

    async def aclose(self) -> None:
        """Stop an app that a first request started: once the requests it serves have ended,
        the inner app's shutdown, then the factory's exit, in the task that started them. Does
        nothing if none runs; an app started by a server's lifespan is stopped by the server.
        Safe to call twice."""
        if self._starter is not None:
            await self._starter.close()

    def __repr__(self) -> str:
        return self._settings.name

    def _not_started(self, what: str) -> NotStartedError:
        life = self._life
        phase = life.phase
        state = f"{phase.value} ({life.cause})" if life.cause else phase.value
        if self._start_on_first_request and phase is not Phase.STARTING:
            fix = "It starts on a request when none runs: the next request tries again."
        elif phase is Phase.CRASHED and self._settings.exit_on_crash:
            fix = "It sent its process SIGTERM (exit_on_crash=True): the server stops, so that "
            fix += "its supervisor starts a fresh process."
        else:
            fix = FIXES[phase]
        return NotStartedError(f"{self!r} {state}, so there is no app for {what}. {fix}")

    async def _lifespan(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        on_crash: Callable[[], None] | None = None,
    ) -> None:
        """One lifespan, from a server or a first request: `Relay` runs it, one at a time."""
        await receive()  # lifespan.startup
        if not self._life.ended:
            await send(
                {
                    "type": "lifespan.startup.failed",
                    "message": f"{self!r} is already running in another lifespan; "
                    "a LazyApp serves one lifespan at a time, so use one LazyApp per server",
                }
            )
            return
        life = self._life = Lifecycle(self._refuse, Phase.STARTING)
        try:
            await Relay(self._settings, life, scope, receive, send, on_crash).run()
        except BaseException:
            life.end(cancelled=True)
            raise
        life.end()


# What a refused request is told to do, for the phase the LazyApp is in.
FIXES = {
    Phase.NEW: "The app is built on lifespan startup: run the server with lifespan on (uvicorn "
    "--lifespan on); in tests use `with TestClient(app)` or `async with lazgi.lifespan(app)`; or "
    "pass start_on_first_request=True.",
    Phase.STARTING: "Requests are served once its startup completes: send them after "
    "lifespan.startup.complete.",
    Phase.RUNNING: "",  # a request is never refused while it runs
    Phase.STOPPING: "Its shutdown has begun: requests that arrive now are refused, while those "
    "already running end first.",
    Phase.STOPPED: "Its lifespan has ended: send requests while it runs (inside `with "
    "TestClient(app)` or `async with lazgi.lifespan(app)`), or start a new lifespan.",
    Phase.FAILED: "It serves nothing until a new lifespan starts it: fix the cause (the "
    "server's log has its traceback), then restart the server.",
    Phase.CRASHED: "It serves nothing until its process is restarted: pass exit_on_crash=True "
    "to LazyApp so that a crash stops the server and its supervisor starts a fresh process.",
    Phase.CANCELLED: "Its lifespan was cancelled before it ended: a new lifespan starts it afresh.",
}


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


def _name(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or repr(obj)
