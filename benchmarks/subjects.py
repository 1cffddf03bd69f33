"""What the benchmarks measure: the per-request subjects (from `trivial`), and a Starlette app
started and stopped directly, through LazyApp, through lazgi 0.1.0 and through the floors."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lazgi import LazyApp
from lazgi._types import Receive, Scope, Send

from . import trivial


def starlette_app() -> Starlette:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/", home)])


@asynccontextmanager
async def starlette_factory() -> AsyncGenerator[Starlette]:
    yield starlette_app()


async def factory_only(scope: Scope, receive: Receive, send: Send) -> None:
    """A floor for LazyApp's start/stop, not a correct wrapper: enter the factory and let the
    app it yields answer the server directly, with nothing checked, reported or shielded."""
    async with starlette_factory() as app:
        await app(scope, receive, send)


async def factory_in_a_cancel_scope(scope: Scope, receive: Receive, send: Send) -> None:
    """The floor inside one anyio cancel scope, which LazyApp needs to shield and bound the
    factory's exit: the difference from the floor is what that scope costs."""
    with anyio.CancelScope():
        await factory_only(scope, receive, send)


async def factory_and_app_in_cancel_scopes(scope: Scope, receive: Receive, send: Send) -> None:
    """The floor inside the two cancel scopes LazyApp enters: the first around the factory, the
    second inside it, around the app's lifespan call, where it shields the app's cleanup from a
    cancellation by the factory's own task group (the crash issue). The difference from the
    one-scope floor is what the second costs."""
    with anyio.CancelScope():
        async with starlette_factory() as app:
            with anyio.CancelScope():
                await app(scope, receive, send)


# The start/stop cycle's subjects, each built only when asked for: lazgi 0.1.0 exists only in
# make bench's environment. `benchmarks.bench` times them; `benchmarks.cycles` runs one under
# callgrind.
BARE, LAZY, OLD = (
    "Starlette started directly",
    "LazyApp around Starlette",
    "lazgi 0.1.0 around Starlette",
)
FLOOR, FLOOR_1, FLOOR_2 = (
    "floor: the factory alone",
    "floor in one anyio CancelScope",
    "floor in two nested anyio CancelScopes",
)
CYCLE: dict[str, Callable[[], Any]] = {
    BARE: starlette_app,
    LAZY: lambda: LazyApp(starlette_factory),
    OLD: lambda: trivial.old_lazy_app()(starlette_factory),
    FLOOR: lambda: factory_only,
    FLOOR_1: lambda: factory_in_a_cancel_scope,
    FLOOR_2: lambda: factory_and_app_in_cancel_scopes,
}


# For the servers in the end-to-end benchmark: `uvicorn benchmarks.subjects:bare_starlette`.
bare_starlette = starlette_app()
lazy_starlette = LazyApp(starlette_factory)
