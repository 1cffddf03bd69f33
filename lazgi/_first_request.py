"""start_on_first_request: LazyApp plays the server for itself when a request finds no app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from ._lifespan import ASGI_VERSION, spawn
from ._types import Message, Receive, Scope, Send

# LazyApp's lifespan entry: it calls the last argument if the app crashes while running.
Lifespan = Callable[[Scope, Receive, Send, Callable[[], None]], Awaitable[None]]


class Starter:
    """The server's side of one lifespan that a LazyApp runs for itself, started by a request,
    in a long-lived task of the running backend's own, owned by no request: a factory's task
    group or cancel scope must be entered and exited in one task. `ready` is set once the
    startup's outcome is known; the lifespan runs until `stop` is set, then calls `ended()`."""

    def __init__(self, lifespan: Lifespan, ended: Callable[[], None]) -> None:
        self.ready = anyio.Event()  # the startup's outcome is known
        self.stop = anyio.Event()  # aclose() was called, or the app crashed
        self.done = anyio.Event()  # the lifespan has ended
        self._lifespan = lifespan
        self._ended = ended
        self._began = False
        self._task: object = None

    async def receive(self) -> Message:
        if not self._began:
            self._began = True
            return {"type": "lifespan.startup"}
        await self.stop.wait()
        return {"type": "lifespan.shutdown"}

    async def send(self, message: Message) -> None:
        if message["type"].startswith("lifespan.startup."):
            self.ready.set()

    async def close(self) -> None:
        """Ask the lifespan to stop, and wait until it has."""
        self.stop.set()
        await self.done.wait()

    async def _run(self) -> None:
        try:
            scope = {"type": "lifespan", "asgi": ASGI_VERSION}
            await self._lifespan(scope, self.receive, self.send, self.stop.set)
        finally:
            self._ended()  # a failed start is tried again by the next request
            self.ready.set()
            self.done.set()

    def spawn(self) -> None:
        """Start the lifespan. Under asyncio's eager task factory it may run to its end, and
        call `ended()`, before this returns."""
        self._task = spawn(self._run)
