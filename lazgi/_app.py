"""LazyApp: construction, the hot path, and what it says when there is no app to serve."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from ._errors import NotStartedError
from ._first_request import Starter
from ._relay import Phase, Relay
from ._types import ASGIApp, Receive, Scope, Send

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
        self._starter: Starter | None = None  # a lifespan this LazyApp runs for itself
        self._app: Any = None  # the inner app, while it runs
        self._forward: ASGIApp = self._refuse  # where requests go: the inner app, while it runs
        self._busy = False  # a lifespan holds this LazyApp
        self._phase = Phase.NEW
        self._cause = ""  # what made it fail to start, or crash, for error messages
        self.__dict__["__call__"] = self._answers_asgi3  # see there

    @property
    def app(self) -> AppT:
        """The inner app while running; raises `NotStartedError` otherwise."""
        if self._app is None:
            raise self._not_started("the app")
        return cast(AppT, self._app)

    def _route(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # The hot path: one check, then the inner app's own coroutine, handed to the server to
        # await, so that no frame of LazyApp's stays between them. `_forward` is the inner app
        # while it runs. See `_answers_asgi3` for how servers still see a coroutine function.
        if scope["type"] != "lifespan":
            return self._forward(scope, receive, send)
        return self._relay(scope, receive, send)

    if TYPE_CHECKING:
        # What type checkers see: an ASGI app, an async callable, so that LazyApp fits every
        # server's and adapter's protocol, those that ask for `async def __call__` (Mangum's)
        # too. What runs is `_route`, which returns the inner app's coroutine without one of
        # its own.
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...
    else:
        __call__ = _route

    async def _answers_asgi3(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What `app.__call__` is, as an instance attribute. Servers tell ASGI 3 from ASGI 2 and
        WSGI by asking `iscoroutinefunction(app.__call__)` (uvicorn, hypercorn, daphne); a call
        `app(...)` goes to the class's `__call__` and never reads it. Called, it does the same."""
        await self(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Where requests go while no app runs: they fail, or, opted in, start the app."""
        if self._start_on_first_request:
            starter = self._starter
            if starter is None and not self._busy:  # the first request: start, in a task of ours
                # Kept before it runs: an eager task can end inside spawn() (Python 3.12+).
                starter = self._starter = Starter(self._relay, self._starter_ended)
                starter.spawn()
            if starter is not None:  # started by a request: wait for the outcome, with the others
                await starter.ready.wait()
                if self._app is not None:
                    return await self._forward(scope, receive, send)
        raise self._not_started(f"this {scope['type']} request")

    def _starter_ended(self) -> None:
        self._starter = None

    async def aclose(self) -> None:
        """Stop an app that a first request started: the inner app's shutdown, then the
        factory's exit, in the task that started them. Does nothing if none runs; an app
        started by a server's lifespan is stopped by the server. Safe to call twice."""
        if self._starter is not None:
            await self._starter.close()

    def __repr__(self) -> str:
        return f"LazyApp({_name(self._factory)})"

    def _not_started(self, what: str) -> NotStartedError:
        phase = self._phase
        state = f"{phase.value} ({self._cause})" if self._cause else phase.value
        if self._start_on_first_request:
            fix = "It starts on a request when none runs: the next request tries again."
        elif phase is Phase.CRASHED and self._exit_on_crash:
            fix = "It sent its process SIGTERM (exit_on_crash=True): the server stops, so that "
            fix += "its supervisor starts a fresh process."
        elif phase is Phase.CRASHED:
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

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One lifespan, from a server or a first request: `Relay` runs it, one at a time."""
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
        self._busy, self._phase, self._cause = True, Phase.STARTING, ""
        try:
            await Relay(self, scope, receive, send).run()
        except BaseException:
            self._phase = Phase.CANCELLED
            raise
        finally:
            self._busy, self._app, self._forward = False, None, self._refuse


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
