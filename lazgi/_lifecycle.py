"""The state of one lifespan of a LazyApp, with one owner: its relay changes it, through these
methods only; LazyApp's request path and error messages read it."""

from __future__ import annotations

import enum
from typing import Any

import anyio

from ._types import ASGIApp


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


class Lifecycle:
    """One lifespan of a LazyApp, as its requests see it: where they go (`forward`, the inner
    app while it serves, LazyApp's refusal otherwise), how many of those forwarded through it
    are still running (`calls`, which LazyApp's request path counts), its phase, and the cause
    of its failure or crash. A LazyApp makes a new one for each lifespan, so that a request
    still running from an earlier one never holds up a later one's shutdown."""

    __slots__ = ("app", "calls", "cause", "ended", "forward", "idle", "phase", "refuse")

    def __init__(self, refuse: ASGIApp, phase: Phase) -> None:
        self.forward = self.refuse = refuse
        self.calls = 0
        # Made only when a teardown waits for requests; the last request to end sets it.
        self.idle: anyio.Event | None = None
        self.app: Any = None  # the inner app, while it serves
        self.phase = phase
        self.cause = ""  # why it failed to start, or crashed
        self.ended = phase is Phase.NEW  # no lifespan holds it (any more)

    def serve(self, app: Any, forward: ASGIApp) -> None:
        """The app started: requests go to it, through `forward`."""
        self.app, self.forward, self.phase = app, forward, Phase.RUNNING

    @property
    def serving(self) -> bool:
        return self.phase is Phase.RUNNING

    async def stop_serving(self, deadline: float, phase: Phase, cause: str = "") -> int:
        """Refuse requests from now on, and wait until none of those forwarded is running, or
        until `deadline` passes, whatever cancels the caller. Returns how many still run."""
        self.app, self.forward, self.phase, self.cause = None, self.refuse, phase, cause
        if self.calls:
            self.idle = anyio.Event()
            with anyio.CancelScope(deadline=deadline, shield=True):
                await self.idle.wait()
        return self.calls

    def failed(self, cause: str) -> None:
        self.phase, self.cause = Phase.FAILED, cause

    def crashed(self, cause: str) -> None:
        self.phase, self.cause = Phase.CRASHED, cause

    def stopped(self) -> None:
        self.phase = Phase.STOPPED

    def end(self, *, cancelled: bool = False) -> None:
        """Its lifespan is over: another may start."""
        self.app, self.forward, self.ended = None, self.refuse, True
        if cancelled:
            self.phase = Phase.CANCELLED
