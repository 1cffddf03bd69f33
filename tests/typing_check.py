"""Checked by mypy and pyright, never run: the inferred public types are part of the contract."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager
from typing import assert_type

from starlette.applications import Starlette

from lazgi import LazyApp, StartedApp, lifespan


@asynccontextmanager
async def async_cm() -> AsyncGenerator[Starlette]:
    yield Starlette()


async def async_generator() -> AsyncGenerator[Starlette]:
    yield Starlette()


async def async_def() -> Starlette:
    return Starlette()


@contextmanager
def sync_cm() -> Generator[Starlette]:
    yield Starlette()


def sync_def() -> Starlette:
    return Starlette()


assert_type(LazyApp(async_cm), LazyApp[Starlette])
assert_type(LazyApp(async_generator), LazyApp[Starlette])
assert_type(LazyApp(async_def), LazyApp[Starlette])
assert_type(LazyApp(sync_cm), LazyApp[Starlette])
assert_type(LazyApp(sync_def), LazyApp[Starlette])
assert_type(LazyApp(sync_def).app, Starlette)


async def started() -> None:
    async with lifespan(Starlette()) as app:
        assert_type(app, StartedApp[Starlette])
        assert_type(app.app, Starlette)


def fits_every_asgi_protocol(app: LazyApp[Starlette]) -> None:
    """A LazyApp is accepted where servers and adapters ask for an ASGI app: an awaitable-
    returning callable (uvicorn, Starlette), or an `async def __call__` (Mangum)."""
    from mangum import Mangum
    from starlette.types import ASGIApp
    from uvicorn import Config

    def serve(app: ASGIApp) -> None: ...

    serve(app)
    Config(app)
    Mangum(app, lifespan="off")
