"""Apps the server tests serve besides examples.workers.

`app` reports what the server put in the request scope: its inner app has no lifespan state,
so LazyApp adds none, and `state` is in the scope only if the server supports lifespan state.
`failing` has a factory that raises, as when the database is down at startup."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio

from examples.workers import say
from lazgi import LazyApp
from lazgi._types import ASGIApp, Receive, Scope, Send


async def report(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return  # no lifespan support of its own: LazyApp serves it anyway
    body = json.dumps({"pid": os.getpid(), "server_state": "state" in scope}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def build() -> ASGIApp:
    say("factory called")
    return report


@asynccontextmanager
async def refuse() -> AsyncGenerator[ASGIApp]:
    say("factory called")
    raise ConnectionRefusedError("the database is down")
    yield report  # pragma: no cover - never reached


app = LazyApp(build)
failing = LazyApp(refuse)


@asynccontextmanager
async def dies_on_request() -> AsyncGenerator[ASGIApp]:
    """A pool and a background worker that dies when a request asks it to: the crash while
    running that exit_on_crash turns into a restart."""
    pool = uuid.uuid4().hex[:12]
    die = anyio.Event()

    async def worker() -> None:
        await die.wait()
        raise RuntimeError("background worker died")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = json.dumps({"pid": os.getpid(), "pool": pool}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        if scope["path"] == "/crash":  # once this request was answered
            die.set()

    say(f"opened pool {pool}")
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker)
            yield app
            tasks.cancel_scope.cancel()
    finally:
        say(f"closed pool {pool}")


crashing = LazyApp(dies_on_request, exit_on_crash=True)
