"""Wrapping an app factory you already have: pass it to LazyApp as it is.

    uvicorn examples.existing_factory:app --host 127.0.0.1
    uvicorn examples.existing_factory:sync_app --host 127.0.0.1

An `async def` factory runs inside the event loop at startup, so it may await (read a secret,
warm a cache); a plain function works too. Neither has anything to close: when the app needs
resources closed at shutdown, make the factory an async context manager (see main.py).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lazgi import LazyApp


def greeter(greeting: str) -> Starlette:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(greeting)

    return Starlette(routes=[Route("/", home)])


async def create_app() -> Starlette:
    """An async factory, as many projects have one."""
    return greeter(os.environ.get("GREETING", "hello from an async factory"))


def create_sync_app() -> Starlette:
    """A sync factory."""
    return greeter("hello from a sync factory")


app = LazyApp(create_app)
sync_app = LazyApp(create_sync_app)
