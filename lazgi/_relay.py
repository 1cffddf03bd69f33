"""LazyApp's side of one server lifespan: the factory's context around the primitive, in order."""

# The relay is LazyApp's own part, one per server lifespan: it moves LazyApp through its phases.
# pyright: reportPrivateUsage=false

from __future__ import annotations

import enum
import logging
import os
import signal
import time
from collections.abc import AsyncGenerator, Awaitable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import anyio

from ._errors import LifespanError, ShutdownError, StartupError
from ._lifespan import Lifespan, StartedApp, arm, describe, logger, timeout_error
from ._types import Receive, Scope, Send

if TYPE_CHECKING:
    from ._app import LazyApp


class Phase(enum.Enum):
    """Where a LazyApp is in its lifecycle, worded for error messages."""

    NEW = "has not started (no lifespan.startup has arrived)"
    STARTING = "is starting"
    RUNNING = "is running"
    STOPPING = "is shutting down"
    STOPPED = "has shut down"
    FAILED = "failed to start"
    CRASHED = "crashed while running"
    CANCELLED = "has stopped (its lifespan was cancelled or interrupted)"


class Relay:
    """One server lifespan of a LazyApp, run in the server's lifespan task, in the protocol's
    order: enter the factory (`run`), run the inner app's lifespan inside it (`serve`), publish
    the app and tell the server it started (`started`), serve until the server asks to stop or
    the app crashes (`running`), tear down (`stop_serving`, then the factory's exit), and tell
    the server the outcome once (`report`)."""

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
        """Run the inner app's lifespan: `started` and `running` are its hooks. Returns when the
        app has stopped; raises its failure to start, to stop, or its crash."""
        if not callable(self.inner):
            raise TypeError(
                f"the factory of {self.lazy!r} produced {self.inner!r} "
                f"({type(self.inner).__name__}), which is not an ASGI app; it must yield or "
                "return the application callable"
            )
        lazy, deadline = self.lazy, None
        if self.life.deadline != float("inf"):  # the rest of startup_timeout is the app's
            deadline, self.life.deadline = self.life.deadline, float("inf")
        scope = {**self.scope, "state": self.state}
        timeouts = lazy._startup_timeout, lazy._shutdown_timeout
        inner = Lifespan(self.inner, scope, *timeouts, shield=False, startup_deadline=deadline)
        await inner.run(self.started, self.running)
        if inner.failure is not None:
            raise inner.failure

    async def started(self) -> None:
        """The inner app is up: publish it, then tell the server."""
        lazy, inner, state = self.lazy, self.inner, self.state
        lazy._app, lazy._phase = inner, Phase.RUNNING
        # A server without lifespan state gets it added to requests, as lifespan() does.
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
        if lazy._phase is Phase.RUNNING:
            lazy._phase = Phase.STOPPING

    async def report(self) -> None:
        """Tell the server the outcome, once, now that everything entered has been exited."""
        lazy, errors = self.lazy, self.errors
        if self.life.cancel_called:  # only the factory's enter and exit run under its deadline
            if self.stage == "entering the factory":
                errors.append(timeout_error(StartupError, lazy._startup_timeout, self.stage))
            else:
                errors.append(timeout_error(ShutdownError, lazy._shutdown_timeout, self.stage))
        summary = "; ".join(map(describe, errors))
        if not self.reported:
            lazy._phase, lazy._cause = Phase.FAILED, summary
            logger.error("%r failed to start: %s", lazy, summary, exc_info=_last(errors))
            await self.send({"type": "lifespan.startup.failed", "message": summary})
            return
        if not self.asked:  # it stopped while running, before the server asked
            try:
                await anyio.lowlevel.checkpoint_if_cancelled()  # trio's task groups absorb it
            except BaseException:  # the server cancelled this lifespan: not a crash
                self.log_shutdown_failure(summary)
                raise
            causes = "; ".join(describe(_underlying(error)) for error in errors)
            self.crashed(causes or "its factory's context exited by itself")
            await self.receive()  # the server's lifespan.shutdown: answer nothing out of turn
            message = f"the app crashed while running: {lazy._cause}"
            await self.send({"type": "lifespan.shutdown.failed", "message": message})
            return
        lazy._phase = Phase.STOPPED
        if errors:
            self.log_shutdown_failure(summary)
            await self.send({"type": "lifespan.shutdown.failed", "message": summary})
            return
        if logger.isEnabledFor(logging.INFO):
            logger.info("%r shut down in %.1f ms", lazy, _ms(self.clock))
        await self.send({"type": "lifespan.shutdown.complete"})

    def log_shutdown_failure(self, summary: str) -> None:
        if self.errors:
            logger.error("%r failed to shut down: %s", self.lazy, summary, exc_info=self.errors[-1])

    def crashed(self, cause: str) -> None:
        """The app crashed while running and was torn down: say so, and ask for a restart."""
        lazy = self.lazy
        lazy._phase, lazy._cause = Phase.CRASHED, cause
        logger.error("%r crashed while running: %s", lazy, cause, exc_info=_last(self.errors))
        if lazy._starter is not None:  # its own lifespan ends: the next request starts afresh
            lazy._starter.stop.set()
        if lazy._exit_on_crash:
            logger.error("%r sends its process SIGTERM (exit_on_crash=True)", lazy)
            os.kill(os.getpid(), signal.SIGTERM)


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
