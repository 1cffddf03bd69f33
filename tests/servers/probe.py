"""Apps the server tests serve besides examples.workers.

`app` reports what the server put in the request scope: its inner app has no lifespan state,
so LazyApp adds none, and `state` is in the scope only if the server supports lifespan state.
`failing` has a factory that raises, as when the database is down at startup."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

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
