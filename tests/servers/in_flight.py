"""A Starlette app whose handlers use a resource R after the server may have begun to stop, for
tests/servers/test_in_flight.py: served through LazyApp (`lazy`), and, as the control, with R
opened and closed by Starlette's own lifespan (`bare`), which is what the server alone gives.

Every event is one line `PID EVENT` in the file MARKER names: `open`, `close`, and each use of
R saying whether R was open (`bg-done open`, `slow-cleanup closed`, ...).

- GET /bg answers at once; a BackgroundTask uses R one second later (work after the response).
- GET /slow?cleanup=S waits for five seconds; cancelled (by the server), its cleanup awaits for
  S seconds, shielded as cleanups are, then uses R.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lazgi import LazyApp


def mark(event: str) -> None:
    line = f"{os.getpid()} {event}\n".encode()
    descriptor = os.open(os.environ["MARKER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(descriptor, line)  # one write per line: workers never interleave
    finally:
        os.close(descriptor)


class Resource:
    def __init__(self) -> None:
        self.open = False

    def state(self) -> str:
        return "open" if self.open else "closed"


@asynccontextmanager
async def opened(resource: Resource) -> AsyncGenerator[Resource]:
    resource.open = True
    mark("open")
    try:
        yield resource
    finally:
        await anyio.lowlevel.checkpoint()  # a real close awaits
        resource.open = False
        mark("close")


def create_app(resource: Resource, **options: Any) -> Starlette:
    async def later() -> None:
        mark("bg-start")
        await anyio.sleep(1)
        mark(f"bg-done {resource.state()}")

    async def bg(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", background=BackgroundTask(later))

    async def slow(request: Request) -> PlainTextResponse:
        mark("slow-start")
        try:
            await anyio.sleep(5)  # longer than the servers' graceful timeouts
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(float(request.query_params["cleanup"]))
                mark(f"slow-cleanup {resource.state()}")
        return PlainTextResponse("slow")  # where the server lets it run to its end

    return Starlette(routes=[Route("/bg", bg), Route("/slow", slow)], **options)


@asynccontextmanager
async def main() -> AsyncGenerator[Starlette]:
    async with opened(Resource()) as resource:
        yield create_app(resource)


lazy = LazyApp(main)


def bare_app() -> Starlette:
    """The same app with R opened and closed by Starlette's own lifespan: no LazyApp."""
    resource = Resource()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None]:
        async with opened(resource):
            yield

    return create_app(resource, lifespan=lifespan)


bare = bare_app()
