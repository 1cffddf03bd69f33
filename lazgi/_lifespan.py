"""The one primitive, `Lifespan`: run an ASGI app's lifespan in the caller's task. `lifespan()`
is its first use, as an async context manager; LazyApp's relay (`_relay.py`) is the second.
`spawn` starts a task that no caller owns, for `lifespan()` and for a first-request start."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import anyio

from ._errors import LifespanError, ShutdownError, StartupError
from ._types import ASGIApp, Message, Receive, Scope, Send

AppT = TypeVar("AppT")
Hook = Callable[[], Awaitable[None]]

logger = logging.getLogger("lazgi")

STARTED = "lifespan.startup.complete"  # the one answer that leaves an app running

# How every report of a crash while running begins; what follows is its cause.
CRASHED = "the app crashed while running: "

# The `asgi` key of every lifespan scope lazgi makes up: for lifespan(), and for a LazyApp that
# starts itself on a first request.
ASGI_VERSION = {"version": "3.0", "spec_version": "2.0"}


class Lifespan:
    """One lifespan call of an ASGI app, run in the caller's task, and the truth about it.

    `run(started, running)` calls the app with lifespan.startup. Once the app is up it awaits
    `started()`, and then `running()`, each exactly once: when the app answers startup.complete
    and when it next waits, after which it gets lifespan.shutdown; or, for an app that returned
    without being asked to stop (it has no lifespan support, or nothing to stop), one after the
    other once its call has ended. A failed startup calls neither. The app answers each event
    exactly once: anything else it sends, and a receive() past the protocol's end, raises inside
    the app, so it fails instead of hanging. A failure answer (startup.failed, shutdown.failed)
    ends the event: an app still running after it is cancelled where it waits. If a hook raises (the
    caller was cancelled, or its own context failed), the app is interrupted: the exception
    reaches it where it waits, its cleanup runs shielded, bounded by the shutdown timeout, and
    whatever it answers then is its reaction, not a protocol error. What went wrong ends up in
    `failure`. Keeping a caller's cancellation out of the whole call is what `shield` does.
    """

    def __init__(
        self,
        app: object,
        scope: Scope,
        startup_timeout: float | None,
        shutdown_timeout: float | None,
        *,
        shield: bool,
        startup_deadline: float | None = None,
    ) -> None:
        self.app = app
        self.scope = scope
        self.started = False  # the app completed its startup, or has no lifespan support
        self.stopping = False  # the app was given lifespan.shutdown, or was interrupted
        self.interrupted = False  # a hook raised: the app is being stopped by that exception
        self.failure: LifespanError | None = None
        # Set by the `running` hook, if at all: when the shutdown that follows must end, instead
        # of shutdown_timeout from then (LazyApp's relay waits for requests on the same clock).
        self.stop_deadline: float | None = None
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._received = False  # the app asked for its first event
        self._shield = shield
        self._startup_deadline = startup_deadline  # instead of startup_timeout from run()'s start
        self._reply: Message | None = None  # the app's answer to the current event
        self._on_started: Hook
        self._on_running: Hook
        # Its deadline is the current event's timeout; it ends an app that goes on after its
        # final answer, and shields an interrupted app's cleanup; `shield` keeps a caller's
        # cancellation out of the whole call.
        self.cancel_scope = anyio.CancelScope(shield=shield)

    async def run(self, started: Hook, running: Hook) -> None:
        self._on_started, self._on_running = started, running
        if self._startup_deadline is None:
            arm(self.cancel_scope, self._startup_timeout)
        else:
            self.cancel_scope.deadline = self._startup_deadline
        error: Exception | None = None
        with self.cancel_scope:
            try:
                await cast(ASGIApp, self.app)(self.scope, self._receive, self._send)
            except Exception as exc:
                error = exc
        if not self._received and not self._timed_out():
            # It returned or raised at once: no lifespan support.
            logger.debug("%r does not support the lifespan protocol (%r)", self.app, error)
        else:
            self.failure = self._judge(error)
            if self.failure is not None or self.stopping:
                return
        # It is up, and its call ended without being asked to stop: nothing is left to stop.
        if not self.started:
            self.started = True
            await started()
        await running()

    def _running(self) -> bool:
        reply = self._reply
        return not self.stopping and reply is not None and reply["type"] == STARTED

    def _timed_out(self) -> bool:
        return self._reply is None and anyio.current_time() >= self.cancel_scope.deadline

    async def _hook(self, hook: Hook) -> None:
        try:
            await hook()
        except BaseException:
            # The caller is cancelled, or its own context failed: stop the app with that
            # exception where it waits, and let its cleanup run, shielded and bounded.
            self.interrupted = self.stopping = True
            self._reply = None
            self.cancel_scope.shield = True
            self._arm_stop()
            raise

    def _arm_stop(self) -> None:
        if self.stop_deadline is None:
            arm(self.cancel_scope, self._shutdown_timeout)
        else:
            self.cancel_scope.deadline = self.stop_deadline

    def _judge(self, error: Exception | None) -> LifespanError | None:
        reply = self._reply
        failed = None  # what the app said, if it reported a failure
        if reply is not None and reply["type"].endswith(".failed"):
            failed = f"the app sent {reply['type']}: {reply.get('message', '')}"
        timed_out = self._timed_out()
        if self.started and not (failed or error or timed_out):
            return None  # it returned, answered or not: nothing is left to stop
        kind: type[LifespanError] = ShutdownError if self.started else StartupError
        # Ended by itself, or failed as its caller's exception stopped it: it crashed. (Anything
        # it sends then is ignored or refused, so a crash always comes with its exception.)
        crashed = self.started and (self.interrupted or not self.stopping)
        if crashed and (error is not None or failed):
            causes = [describe(error)] if error is not None else []
            text = CRASHED + "; ".join([*causes, *([failed] if failed else [])])
        elif failed:
            text = failed
        elif error is not None:
            stage = "during shutdown" if self.started else "during startup"
            text = f"the app's lifespan raised {describe(error)} {stage}"
        elif timed_out:
            event = "lifespan.shutdown" if self.started else "lifespan.startup"
            seconds = self._shutdown_timeout if self.started else self._startup_timeout
            return timeout_error(kind, seconds, f"the app handled {event}")
        else:
            text = (
                "the app returned after receiving lifespan.startup without answering it; "
                "it must send lifespan.startup.complete or lifespan.startup.failed"
            )
        failure = kind(text)
        failure.__cause__ = error
        return failure

    async def _receive(self) -> Message:
        if not self._received:
            self._received = True
            return {"type": "lifespan.startup"}
        if self.stopping and not self.interrupted:
            raise RuntimeError(
                "the app called receive() after lifespan.shutdown; the lifespan protocol has "
                "no further messages, so the app should return once it answered"
            )
        if not self.started:
            raise RuntimeError(
                "the app called receive() again before completing lifespan.startup; "
                "send lifespan.startup.complete or lifespan.startup.failed first"
            )
        if self.interrupted:  # it came through the interruption and waits again, as before it
            self.interrupted = self.stopping = False
            self.cancel_scope.shield, self.cancel_scope.deadline = self._shield, float("inf")
        await self._hook(self._on_running)
        self.stopping, self._reply = True, None
        self._arm_stop()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: Message) -> None:
        if self.interrupted:
            return  # its reaction to the interruption (Starlette sends *.failed): nobody asked
        event = "lifespan.shutdown" if self.stopping else "lifespan.startup"
        expected = (f"{event}.complete", f"{event}.failed")
        if self._reply is not None or message["type"] not in expected:
            if self._running() and message["type"] == "lifespan.shutdown.failed":
                # Unasked, while it runs: the app reports its own crash (Starlette does when its
                # lifespan fails). That is its final answer; if it goes on, it is cancelled.
                self._reply = message
                self.cancel_scope.cancel()
                return
            due = "nothing" if self._reply is not None else " or ".join(expected)
            said = f" ({message['message']!r})" if message.get("message") else ""
            raise RuntimeError(
                f"the app sent {message['type']!r}{said} while the lifespan protocol expected "
                f"{due}; an app answers each lifespan event exactly once"
            )
        self._reply = message
        if message["type"] == STARTED:
            self.started = True
            self.cancel_scope.deadline = float("inf")
            await self._hook(self._on_started)
        elif message["type"].endswith(".failed"):
            # A failure ends the event: if the app goes on, it is cancelled where it waits.
            # (After shutdown.complete an app returns; one that blocks instead is bounded by
            # shutdown_timeout, like any slow shutdown: cancelling here costs every cycle.)
            self.cancel_scope.cancel()


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
) -> AbstractAsyncContextManager[StartedApp[AppT]]:
    """Run `app`'s ASGI lifespan: startup on enter, shutdown on exit.

    Entering yields a `StartedApp` to send requests to (for example through
    `httpx.ASGITransport(app=started)`). Enter raises `StartupError` as soon as the app reports
    or raises a startup failure; exit raises `ShutdownError` likewise, unless the block raised,
    in which case the block's exception propagates. An app without lifespan support is simply
    served. A timeout that passes raises the matching error, naming the timeout. If the block is
    cancelled, the app still gets lifespan.shutdown, shielded, bounded by `shutdown_timeout`.
    """
    scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": {}}
    return _Block(app, Lifespan(app, scope, startup_timeout, shutdown_timeout, shield=True))


class _Block(Generic[AppT]):
    """What `lifespan()` returns. The app's lifespan runs in a task of its own (`spawn`), owned
    by no task group or cancel scope of the caller's, so that the block runs while the app waits
    and the `async with` may be entered in one task and exited in another (pytest-asyncio runs a
    fixture's setup and teardown in two). Exit waits for that task, shielded from the caller's
    cancellation: nothing is left running."""

    def __init__(self, app: AppT, lifespan: Lifespan) -> None:
        self._app = app
        self._lifespan = lifespan
        self._ready = anyio.Event()  # the app started, or its lifespan ended
        self._stop = anyio.Event()
        self._done = anyio.Event()
        self._interrupt: BaseException | None = None  # what escaped the app's lifespan
        self._task: object = None

    async def __aenter__(self) -> StartedApp[AppT]:
        self._task = spawn(self._run)
        try:
            await self._ready.wait()
        except BaseException:  # the caller was cancelled while the app started
            await self._close()
            raise
        if not self._lifespan.started:
            await self._close()
            raise cast(StartupError, self._lifespan.failure)
        return StartedApp(self._app, self._lifespan.scope["state"])

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._close(cancel=False)  # the app shuts down and returns
        failure = self._lifespan.failure
        if failure is None:
            return
        if exc is None:
            raise failure
        exc.add_note(f"lazgi: the app's shutdown failed as well: {failure}")

    async def _run(self) -> None:
        try:
            await self._lifespan.run(self._started, self._stop.wait)
        except BaseException as exc:  # KeyboardInterrupt, say: raised in the caller instead
            self._interrupt = exc
        finally:
            self._ready.set()
            self._done.set()

    async def _started(self) -> None:
        self._ready.set()

    async def _close(self, *, cancel: bool = True) -> None:
        self._stop.set()
        if cancel:
            self._lifespan.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):  # exiting waits for the app, even if cancelled
            await self._done.wait()
        if self._interrupt is not None:
            raise self._interrupt


def spawn(run: Callable[[], Coroutine[Any, Any, None]]) -> object:
    """Start `run()` in a task of the running backend's own, owned by no caller's task group or
    cancel scope, with a copy of the caller's context variables; return the handle to keep
    (asyncio keeps only weak references to tasks). Under asyncio's eager task factory (Python
    3.12+) `run()` may have run to its end before this returns. `run` must raise nothing: trio
    ends the whole run for an exception from a system task."""
    import asyncio  # here, not at the top: anyio too imports its backends only when used

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio, so trio
        import trio

        trio.lowlevel.spawn_system_task(run, context=contextvars.copy_context())
        return None
    return loop.create_task(run())


def describe(exc: BaseException) -> str:
    """`Type: text` of an exception, looking through exception groups to the errors inside; just
    the text of lazgi's own errors, whose text already says what failed."""
    if isinstance(exc, BaseExceptionGroup):
        group = cast(BaseExceptionGroup[BaseException], exc)
        return "; ".join(describe(inner) for inner in group.exceptions)
    if isinstance(exc, LifespanError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def timeout_error(kind: type[LifespanError], seconds: float | None, stage: str) -> LifespanError:
    """The one wording of a timeout that passed: which timeout, its value, the stage, the fix."""
    which = "shutdown" if kind is ShutdownError else "startup"
    return kind(
        f"{which}_timeout ({seconds:.3g} s) passed while {stage}; make the {which} faster or "
        f"raise {which}_timeout"
    )


def arm(scope: anyio.CancelScope, timeout: float | None) -> None:
    """Cancel `scope` `timeout` seconds from now. Without a timeout, leave it be: setting a
    deadline costs microseconds, and a lifespan sets several."""
    if timeout is not None:
        scope.deadline = anyio.current_time() + timeout
