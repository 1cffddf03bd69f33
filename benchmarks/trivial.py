"""The per-request subjects: a trivial ASGI app, reached directly, through a minimal
pass-through, through LazyApp and through lazgi 0.1.0's LazyApp. Kept apart from Starlette so
that `benchmarks.calls`, run under callgrind, imports as little as it can."""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lazgi import LazyApp
from lazgi._types import ASGIApp, Message, Receive, Scope, Send

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
    "lazgi": lambda: LazyApp(trivial_factory),
    "lazgi-0.1.0": lambda: old_lazy_app()(trivial_factory),
}


async def nothing_received() -> Message:
    return {"type": "http.disconnect"}


async def nothing_sent(message: Message) -> None:
    pass
