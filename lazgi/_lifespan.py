"""The one primitive: run an ASGI app's lifespan as an async context manager."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import anyio

from ._errors import ShutdownError, StartupError
from ._types import ASGIApp, Message, Receive, Scope, Send

AppT = TypeVar("AppT")

logger = logging.getLogger("lazgi")


class StartedApp(Generic[AppT]):
    """An app whose lifespan is running. Calling it forwards to `app`; http and websocket scopes
    that carry no `state` get a shallow copy of the lifespan state, as a state-aware server does.
    A lifespan scope returns at once: the app is started already, so another driver (a server,
    a LazyApp whose factory yields this) serves it as an app without lifespan support."""

    __slots__ = ("app", "state")

    def __init__(self, app: AppT, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            return
        if "state" not in scope and kind in ("http", "websocket"):
            scope["state"] = self.state.copy()
        await cast(ASGIApp, self.app)(scope, receive, send)


def lifespan(
    app: AppT, *, startup_timeout: float | None = None, shutdown_timeout: float | None = None
) -> Lifespan[AppT]:
    """Run `app`'s ASGI lifespan: startup on enter, shutdown on exit.

    Entering yields a `StartedApp` to send requests to (for example through
    `httpx.ASGITransport(app=started)`). Enter raises `StartupError` as soon as the app reports
    or raises a startup failure; exit raises `ShutdownError` likewise, unless the block raised,
    in which case the block's exception propagates. An app without lifespan support is simply
    served. A timeout that passes raises the matching error, naming the timeout.
    """
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    return Lifespan(app, scope, startup_timeout, shutdown_timeout)


class Lifespan(Generic[AppT]):
    """Drives one lifespan of `app` with `scope`, the app's side running in a task owned here.

    The app answers each of the two events exactly once; anything else it sends, and a
    receive() past the protocol's end, raises inside the app, so it fails instead of hanging.
    """

    def __init__(
        self,
        app: AppT,
        scope: Scope,
        startup_timeout: float | None,
        shutdown_timeout: float | None,
    ) -> None:
        self._app = app
        self._scope = scope
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._phase = "startup"  # the event the app was last given
        self._reply: Message | None = None  # the app's answer to that event
        self._received = 0
        self._error: Exception | None = None  # what the app raised, if it did
        self._error_when = ""
        self._ended = False
        self._answered = anyio.Event()  # set by a reply or by the app's end
        self._shutdown = anyio.Event()
        self._tasks = anyio.create_task_group()
        # The app's task is shielded from whoever cancels the caller: only this class stops it,
        # after the app had its chance to shut down.
        self._app_scope = anyio.CancelScope(shield=True)

    async def __aenter__(self) -> StartedApp[AppT]:
        await self._tasks.__aenter__()
        self._tasks.start_soon(self._run_app)
        try:
            with anyio.move_on_after(self._startup_timeout) as waiting:
                await self._answered.wait()
        except BaseException:  # the caller was cancelled while the app started
            await self._close()
            raise
        reply = self._reply
        unsupported = self._ended and self._received == 0  # the app returned or raised at once
        if not unsupported and (reply is None or reply["type"] != "lifespan.startup.complete"):
            await self._close()
            self._raise_startup_failure(reply, waiting.cancelled_caught)
        return StartedApp(self._app, self._scope["state"])

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Shield the shutdown from a cancelled caller; it is still bounded by shutdown_timeout.
        self._tasks.cancel_scope.shield = True
        timed_out = False
        if not self._ended:
            self._phase, self._reply, self._answered = "shutdown", None, anyio.Event()
            self._shutdown.set()
            with anyio.move_on_after(self._shutdown_timeout) as waiting:
                await self._answered.wait()
            timed_out = waiting.cancelled_caught
        await self._close()
        failure = self._shutdown_failure(timed_out)
        if failure is None:
            return
        if exc is None:
            raise failure
        exc.add_note(f"lazgi: the app's shutdown failed as well: {failure}")

    def _raise_startup_failure(self, reply: Message | None, timed_out: bool) -> None:
        if reply is not None:
            message = f"the app sent lifespan.startup.failed: {reply.get('message', '')}"
            raise StartupError(message) from self._error
        if self._error is not None:
            raise StartupError(
                f"the app's lifespan raised {describe(self._error)} during startup"
            ) from self._error
        if timed_out:
            raise StartupError(
                f"startup_timeout passed: the app did not answer lifespan.startup within "
                f"{self._startup_timeout:.3g} s; make its startup faster or raise the timeout"
            )
        raise StartupError(
            "the app returned after receiving lifespan.startup without answering it; "
            "it must send lifespan.startup.complete or lifespan.startup.failed"
        )

    def _shutdown_failure(self, timed_out: bool) -> ShutdownError | None:
        if self._reply is not None and self._reply["type"] == "lifespan.shutdown.failed":
            failure = ShutdownError(
                f"the app sent lifespan.shutdown.failed: {self._reply.get('message', '')}"
            )
        elif self._error is not None:
            failure = ShutdownError(
                f"the app's lifespan raised {describe(self._error)} {self._error_when}"
            )
        elif timed_out:
            return ShutdownError(
                f"shutdown_timeout passed: the app did not answer lifespan.shutdown within "
                f"{self._shutdown_timeout:.3g} s; make its shutdown faster or raise the timeout"
            )
        else:
            return None
        failure.__cause__ = self._error
        return failure

    async def _close(self) -> None:
        self._tasks.cancel_scope.shield = True
        self._app_scope.cancel()
        await self._tasks.__aexit__(None, None, None)

    async def _run_app(self) -> None:
        try:
            with self._app_scope:
                await cast(ASGIApp, self._app)(self._scope, self._receive, self._send)
        except Exception as exc:
            if self._received == 0:  # raised before its first receive(): no lifespan support
                logger.debug("%r does not support the lifespan protocol (%r)", self._app, exc)
            else:
                self._error, self._error_when = exc, self._when()
        finally:
            self._ended = True
            self._answered.set()

    def _when(self) -> str:
        if self._phase == "shutdown":
            return "during shutdown"
        return "while running" if self._reply is not None else "during startup"

    async def _receive(self) -> Message:
        self._received += 1
        if self._received == 1:
            return {"type": "lifespan.startup"}
        if self._reply is None and self._phase == "startup":
            raise RuntimeError(
                "the app called receive() again before answering lifespan.startup; "
                "send lifespan.startup.complete or lifespan.startup.failed first"
            )
        await self._shutdown.wait()
        if self._received == 2:
            return {"type": "lifespan.shutdown"}
        raise RuntimeError(
            "the app called receive() after lifespan.shutdown; the lifespan protocol has no "
            "further messages, so the app should return once it answered"
        )

    async def _send(self, message: Message) -> None:
        expected = (f"lifespan.{self._phase}.complete", f"lifespan.{self._phase}.failed")
        if self._reply is not None or message["type"] not in expected:
            due = "nothing" if self._reply is not None else " or ".join(expected)
            raise RuntimeError(
                f"the app sent {message['type']!r} while the lifespan protocol expected {due}; "
                "an app answers each lifespan event exactly once"
            )
        self._reply = message
        self._answered.set()


def describe(exc: BaseException) -> str:
    """`Type: text` of an exception, looking through exception groups to the errors inside."""
    if isinstance(exc, BaseExceptionGroup):
        group = cast(BaseExceptionGroup[BaseException], exc)
        return "; ".join(describe(inner) for inner in group.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
