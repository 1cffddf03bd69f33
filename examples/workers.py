"""A module-global app for servers with several worker processes: each worker builds its own.

    uvicorn examples.workers:app --host 127.0.0.1 --workers 4
    gunicorn examples.workers:app -k uvicorn_worker.UvicornWorker -w 4 --preload -b 127.0.0.1:8000
    hypercorn examples.workers:app --bind 127.0.0.1:8000    # -k trio: the trio worker
    granian examples.workers:app --interface asgi --host 127.0.0.1 --workers 4

Importing this module builds nothing, so gunicorn --preload may import it in the master before
forking: every worker runs `main()` on its own lifespan startup, after the fork, and closes what
it opened when the server stops it. Nothing is shared across processes.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lazgi import LazyApp


class Pool:
    """Stands for a connection pool: it belongs to the process that opened it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.id = uuid.uuid4().hex[:12]


def say(text: str) -> None:
    # One write per line, so that lines from several workers never interleave.
    os.write(sys.stderr.fileno(), f"worker {os.getpid()}: {text}\n".encode())


def create_app(pool: Pool) -> Starlette:
    async def home(request: Request) -> JSONResponse:
        return JSONResponse({"pid": os.getpid(), "pool": pool.id, "pool_pid": pool.pid})

    return Starlette(routes=[Route("/", home)])


@asynccontextmanager
async def main() -> AsyncGenerator[Starlette]:
    pool = Pool()
    say(f"opened pool {pool.id}")
    try:
        yield create_app(pool)
    finally:
        say(f"closed pool {pool.id}")


app = LazyApp(main)
