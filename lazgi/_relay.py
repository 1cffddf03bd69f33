"""LazyApp's side of one server lifespan: the factory's context around the primitive, in order."""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import anyio

from ._errors import ShutdownError, StartupError
from ._lifecycle import Lifecycle, Phase
from ._lifespan import CRASHED, Lifespan, StartedApp, arm, describe, logger, timeout_error
from ._types import Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class Settings:
    """What a LazyApp was made with that each of its lifespans uses."""

    name: str  # how logs and messages name it: LazyApp(main)
    factory: Callable[[], Any]
    startup_timeout: float | None
    shutdown_timeout: float | None
    exit_on_crash: bool


class Relay:
    """One server lifespan of a LazyApp, run in the server's lifespan task, in the protocol's
    order: enter the factory (`run`), run the inner app's lifespan inside it (`serve`), serve
    it and tell the server it started (`started`), serve until the server asks to stop or the
    app crashes (`running`), tear down (`stop_serving`, then the factory's exit), and tell the
    server the outcome once (`report`). What requests see of it is in `life`, which only the
    relay changes."""

    def __init__(
        self,
        settings: Settings,
        life: Lifecycle,
        scope: Scope,
        receive: Receive,
        send: Send,
        on_crash: Callable[[], None] | None,
    ) -> None:
        self.settings, self.life = settings, life
        self.scope, self.receive, self.send = scope, receive, send
        self.on_crash = on_crash  # a lifespan LazyApp runs for itself ends at a crash
        # Teardown references live here, never in scope["state"]: granian empties that dict
        # before shutdown.
        self.state: dict[str, Any] = scope.get("state", {})
        self.errors: list[BaseException] = []
        self.stage = "entering the factory"
        self.clock = time.perf_counter()
        self.reported = False  # the server was told the app started
        self.asked = False  # the server sent lifespan.shutdown
        self.inner: Any = None
        self.lifespan: Lifespan | None = None  # the inner app's, once it is called
        # One cancel scope spans the factory's whole life, so that a task group the factory
        # holds across its yield nests inside it; its deadline and shield change per phase.
        self.cancel_scope = anyio.CancelScope()

    async def run(self) -> None:
        settings = self.settings
        with self.cancel_scope:
            arm(self.cancel_scope, settings.startup_timeout)
            try:
                async with _entered(settings.factory()) as self.inner:
                    try:
                        await self.serve()
                    except Exception as exc:
                        _record(self.errors, exc)
                        raise
                    finally:
                        await self.stop_serving()
                        self.stage = "exiting the factory"
                        arm(self.cancel_scope, settings.shutdown_timeout)
            except Exception as exc:  # the factory's own, or the above, maybe in a group
                _record(self.errors, exc)
        await self.report()

    async def serve(self) -> None:
        """Run the inner app's lifespan: `started` and `running` are its hooks. Returns when the
        app has stopped; raises its failure to start, to stop, or its crash."""
        if not callable(self.inner):
            raise TypeError(
                f"the factory of {self.settings.name} produced {self.inner!r} "
                f"({type(self.inner).__name__}), which is not an ASGI app; it must yield or "
                "return the application callable"
            )
        deadline = None
        if self.cancel_scope.deadline != math.inf:  # the rest of startup_timeout is the app's
            deadline, self.cancel_scope.deadline = self.cancel_scope.deadline, math.inf
        scope = {**self.scope, "state": self.state}
        timeouts = self.settings.startup_timeout, self.settings.shutdown_timeout
        inner = Lifespan(self.inner, scope, *timeouts, shield=False, startup_deadline=deadline)
        self.lifespan = inner
        await inner.run(self.started, self.running)
        if inner.failure is not None:
            raise inner.failure

    async def started(self) -> None:
        """The inner app is up: serve it, then tell the server."""
        inner, state = self.inner, self.state
        # A server without lifespan state gets it added to requests, as lifespan() does.
        forward = inner if "state" in self.scope or not state else StartedApp(inner, state)
        self.life.serve(inner, forward)
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s started in %.1f ms", self.settings.name, _ms(self.clock))
        self.reported = True
        await self.send({"type": "lifespan.startup.complete"})

    async def running(self) -> None:
        """Serve until the server sends lifespan.shutdown; an exception here (a cancellation,
        from the server or from the factory's own task group) ends serving too."""
        try:
            await self.receive()  # lifespan.shutdown
            self.asked, self.clock = True, time.perf_counter()
        finally:
            await self.stop_serving()

    async def stop_serving(self) -> None:
        """From here on it is teardown: requests are refused, the requests already forwarded
        run to their end first, and the teardown runs to its end, cancelled or not. Waiting for
        the requests and the inner app's shutdown share one shutdown_timeout."""
        self.cancel_scope.shield = True
        life, timeout = self.life, self.settings.shutdown_timeout
        if not life.serving:
            return  # it never served, or this ran already
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        if self.lifespan is not None and timeout is not None:
            self.lifespan.stop_deadline = deadline
        if self.reported and not self.asked and self.errors:  # a crash whose cause is known
            phase, cause = Phase.CRASHED, self.causes()
        else:
            phase, cause = Phase.STOPPING, ""
        if life.calls:
            logger.info("%s waits for %s to end", self.settings.name, _requests(life.calls))
        if left := await life.stop_serving(deadline, phase, cause):
            self.errors.append(
                ShutdownError(
                    f"shutdown_timeout ({timeout:.3g} s) passed with {_requests(left)} it "
                    "forwarded still running, and the teardown went on without them; bound "
                    "what a request does (its background tasks too) or raise shutdown_timeout"
                )
            )

    async def report(self) -> None:
        """Tell the server the outcome, once, now that everything entered has been exited."""
        settings, life, errors = self.settings, self.life, self.errors
        if self.cancel_scope.cancel_called:  # only the factory's enter and exit run under it
            if self.stage == "entering the factory":
                errors.append(timeout_error(StartupError, settings.startup_timeout, self.stage))
            else:
                errors.append(timeout_error(ShutdownError, settings.shutdown_timeout, self.stage))
        summary = "; ".join(map(describe, errors))
        if not self.reported:
            life.failed(summary)
            logger.error("%s failed to start: %s", settings.name, summary, exc_info=_raised(errors))
            await self.send({"type": "lifespan.startup.failed", "message": summary})
            return
        if not self.asked:  # it stopped while running, before the server asked
            try:
                await anyio.lowlevel.checkpoint_if_cancelled()  # trio's task groups absorb it
            except BaseException:  # the server cancelled this lifespan: not a crash
                self.log_shutdown_failure(summary)
                raise
            self.crashed(self.causes() or "its factory's context exited by itself")
            await self.receive()  # the server's lifespan.shutdown: answer nothing out of turn
            message = CRASHED + life.cause
            await self.send({"type": "lifespan.shutdown.failed", "message": message})
            return
        life.stopped()
        if errors:
            self.log_shutdown_failure(summary)
            await self.send({"type": "lifespan.shutdown.failed", "message": summary})
            return
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s shut down in %.1f ms", settings.name, _ms(self.clock))
        await self.send({"type": "lifespan.shutdown.complete"})

    def causes(self) -> str:
        """What went wrong, each error once, a crash by its own cause."""
        return "; ".join(describe(error).removeprefix(CRASHED) for error in self.errors)

    def log_shutdown_failure(self, summary: str) -> None:
        if self.errors:
            name = self.settings.name
            logger.error("%s failed to shut down: %s", name, summary, exc_info=_raised(self.errors))

    def crashed(self, cause: str) -> None:
        """The app crashed while running and was torn down: say so, and ask for a restart."""
        name = self.settings.name
        self.life.crashed(cause)
        # The crash's own traceback, even if its teardown then failed or timed out.
        logger.error("%s crashed while running: %s", name, cause, exc_info=_raised(self.errors))
        if self.on_crash is not None:
            self.on_crash()
        if self.settings.exit_on_crash:
            logger.error("%s sends its process SIGTERM (exit_on_crash=True)", name)
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


def _requests(count: int) -> str:
    return f"{count} request" if count == 1 else f"{count} requests"


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _raised(errors: list[BaseException]) -> BaseException | None:
    """The first error that was raised, so that a log record carries its traceback: the root
    cause, rather than a timeout that followed it (those are made, never raised)."""
    return next((error for error in errors if error.__traceback__ is not None), None)


def _record(errors: list[BaseException], exc: BaseException) -> None:
    """Add the errors in `exc` not seen yet, looking through exception groups (a factory's
    task group wraps what it raises) so that each is reported as itself, once."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in cast(BaseExceptionGroup[BaseException], exc).exceptions:
            _record(errors, inner)
    elif exc not in errors:
        errors.append(exc)
