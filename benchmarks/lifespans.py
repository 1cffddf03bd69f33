"""A minimal server side of the lifespan, as uvicorn has it: the app's lifespan call runs in a
task of the server's, fed by a queue, answered through a queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from lazgi._types import Message

SCOPE = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}


@asynccontextmanager
async def started(app: Any) -> AsyncGenerator[None]:
    """Start `app`'s lifespan as a server does; stop it on exit. Fails loudly on failure."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    replies: asyncio.Queue[Message] = asyncio.Queue()
    task = asyncio.ensure_future(app({**SCOPE, "state": {}}, inbox.get, replies.put))
    # No timeout scope here: it would cost as much as what is measured. `make bench` bounds
    # the whole run instead.
    inbox.put_nowait({"type": "lifespan.startup"})
    reply = await replies.get()
    assert reply["type"] == "lifespan.startup.complete", reply
    yield
    inbox.put_nowait({"type": "lifespan.shutdown"})
    reply = await replies.get()
    await task
    assert reply["type"] == "lifespan.shutdown.complete", reply


async def cycle(app: Any) -> None:
    """One start and stop."""
    async with started(app):
        pass
