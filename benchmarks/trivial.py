"""The per-request subjects: a trivial ASGI app, reached directly, through a minimal
pass-through, through a minimal counting wrapper, through LazyApp and through lazgi 0.1.0's
LazyApp. Kept apart from Starlette so
that `benchmarks.calls`, run under callgrind, imports as little as it can."""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lazgi import LazyApp
from lazgi._types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from anyio import Event

OLD = Path(__file__).parents[1] / ".bench" / "old" / "site"  # lazgi 0.1.0, unpacked by make bench
WITH_LIFESPAN = ("lazgi", "lazgi-0.1.0")  # the subjects whose lifespan must run first


async def bare(scope: Scope, receive: Receive, send: Send) -> None:
    """The trivial app: it does nothing, so what is measured is what reaches it."""


class PassThrough:
    """The minimal hand-written pass-through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class Counter:
    """The requests forwarded during one lifespan, and a waiter for none to be left."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls = 0
        self.idle: Event | None = None


class Counting:
    """The minimal correct wrapper for LazyApp's job on a request: it checks the scope type,
    takes the current lifespan's counter (so that a request still running from one lifespan
    never holds up the next one's shutdown), counts up, awaits the inner app, counts down and
    wakes a waiter when none is left."""

    def __init__(self, app: ASGIApp) -> None:
        self.current = Counter(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            counter = self.current
            counter.calls += 1
            try:
                await counter.app(scope, receive, send)
            finally:
                counter.calls -= 1
                if counter.idle is not None and not counter.calls:
                    counter.idle.set()
            return
        await self.current.app(scope, receive, send)


class CountingOnItself:
    """The same without the lifespan's counter, counting on the wrapper itself: not correct
    for LazyApp's job (one lifespan's requests would hold up the next one's shutdown), shown
    for what that one attribute read costs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls = 0
        self.idle: Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            self.calls += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.calls -= 1
                if self.idle is not None and not self.calls:
                    self.idle.set()
            return
        await self.app(scope, receive, send)


def old_lazy_app() -> Any:
    """lazgi 0.1.0's LazyApp class, imported from .bench/old under its own module objects."""
    ours = {
        name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] == "lazgi"
    }
    sys.path.insert(0, str(OLD))
    try:
        return importlib.import_module("lazgi").LazyApp
    finally:
        sys.path.remove(str(OLD))
        for name in [name for name in sys.modules if name.split(".")[0] == "lazgi"]:
            del sys.modules[name]
        sys.modules.update(ours)


@asynccontextmanager
async def trivial_factory() -> AsyncGenerator[ASGIApp]:
    yield bare


# The trivial app, reached each way the per-request benchmarks compare, each built only when
# asked for: lazgi 0.1.0 exists only in make bench's environment.
PER_REQUEST: dict[str, Callable[[], Any]] = {
    "bare": lambda: bare,
    "pass-through": lambda: PassThrough(bare),
    "counting": lambda: Counting(bare),
    "counting on itself": lambda: CountingOnItself(bare),
    "lazgi": lambda: LazyApp(trivial_factory),
    "lazgi-0.1.0": lambda: old_lazy_app()(trivial_factory),
}


async def nothing_received() -> Message:
    return {"type": "http.disconnect"}


async def nothing_sent(message: Message) -> None:
    pass
