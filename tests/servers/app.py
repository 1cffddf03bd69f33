"""The app the server tests serve. Its factory records each step of its life, with the worker's
pid, in the file named by $LAZGI_TEST_LOG, so a test can count enters and exits per worker."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lazgi import LazyApp


def record(event: str) -> None:
    with open(os.environ["LAZGI_TEST_LOG"], "a") as log:
        log.write(f"{os.getpid()} {event}\n")


class Resource:
    """Stands for a pool or a client: made inside the worker, after any fork."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.id = uuid.uuid4().hex


def create_app(resource: Resource) -> Starlette:
    async def home(request: Request) -> JSONResponse:
        return JSONResponse({"pid": resource.pid, "resource": resource.id})

    return Starlette(routes=[Route("/", home)])


@asynccontextmanager
async def main() -> AsyncGenerator[Starlette]:
    record("enter")
    if os.environ.get("LAZGI_TEST_FAIL"):
        raise RuntimeError("the factory failed on purpose")
    try:
        yield create_app(Resource())
    finally:
        record("exit")


app = LazyApp(main)
