"""The scripted server driver that plays a server's side of one lifespan (fakes.py has the fake
resources and apps)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio

from lazgi._types import ASGIApp, Message, Scope

# A bound on every wait in a test, so that a bug fails the test instead of hanging it.
BOUND = 10


class Server:
    """Plays a server's side of one lifespan: it sends the events the test asks for and records
    every message the app sends, in order, in `sent` (and in `log`, if given, as "server got T").
    The app runs in its own task, inside a cancel scope that the test may cancel."""

    def __init__(self, app: ASGIApp, scope: Scope, log: list[str] | None) -> None:
        self.app = app
        self.scope = scope
        self.sent: list[Message] = []
        self.log = log
        self.error: BaseException | None = None
        self.returned = False
        self.cancelled_after_final_message = False
        self.call_scope = anyio.CancelScope()
        self.done = anyio.Event()
        self.waiting = anyio.Event()  # set whenever the app waits in receive()
        self.cancel_on_final = False
        self.to_app, self.inbox = anyio.create_memory_object_stream[Message](10)
        self.from_app, self.replies = anyio.create_memory_object_stream[Message](10)

    async def receive(self) -> Message:
        self.waiting.set()
        message = await self.inbox.receive()
        self.waiting = anyio.Event()
        return message

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if self.log is not None:
            self.log.append(f"server got {message['type']}")
        final = message["type"] != "lifespan.startup.complete"
        if final and self.cancel_on_final:
            # Anything the app awaits after its final message now raises Cancelled.
            self.call_scope.cancel()
        self.from_app.send_nowait(message)

    async def run(self) -> None:
        try:
            with self.call_scope:
                await self.app(self.scope, self.receive, self.send)
                self.returned = True
        except Exception as exc:
            self.error = exc
        finally:
            self.cancelled_after_final_message = self.call_scope.cancelled_caught
            self.done.set()

    async def startup(self) -> Message:
        """Send lifespan.startup and return the app's answer."""
        return await self._event("lifespan.startup")

    async def shutdown(self) -> Message:
        """Send lifespan.shutdown and return the app's answer."""
        return await self._event("lifespan.shutdown")

    async def _event(self, kind: str) -> Message:
        with anyio.fail_after(BOUND):
            await self.to_app.send({"type": kind})
            return await self.replies.receive()

    async def finished(self) -> None:
        """Wait until the app's call returned or raised."""
        with anyio.fail_after(BOUND):
            await self.done.wait()

    async def wait_receiving(self) -> None:
        """Wait until the app is blocked in receive()."""
        with anyio.fail_after(BOUND):
            await self.waiting.wait()

    def types(self) -> list[str]:
        return [message["type"] for message in self.sent]


@asynccontextmanager
async def serve(
    app: ASGIApp,
    scope: Scope | None = None,
    log: list[str] | None = None,
    *,
    cancel_on_final: bool = True,
) -> AsyncGenerator[Server]:
    """Start `app`'s lifespan call under a scripted server; on exit, wait for the call to end.

    By default the call's scope is cancelled the moment the app sends its final message, so a
    test sees `cancelled_after_final_message` if the app awaited anything after it."""
    if scope is None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    server = Server(app, scope, log)
    server.cancel_on_final = cancel_on_final
    async with (
        server.to_app,
        server.inbox,
        server.from_app,
        server.replies,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(server.run)
        yield server
        await server.finished()
