"""The scripted server driver, and the fake resources and apps the tests share."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

from lazgi._types import ASGIApp, Message, Receive, Scope, Send

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


class Resource:
    """A fake resource that logs its enter and exit, and counts them."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.entered = 0
        self.exit_calls = 0  # __aexit__ was called
        self.exited = 0  # __aexit__ ran to completion

    async def __aenter__(self) -> Resource:
        self.entered += 1
        self.log.append(f"{self.name} open")
        await anyio.lowlevel.checkpoint()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.exit_calls += 1
        # A real close awaits: it completes only if LazyApp did not let a cancellation reach it.
        await anyio.lowlevel.checkpoint()
        self.exited += 1
        self.log.append(f"{self.name} close")


Hook = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    pass


def inner_app(
    log: list[str],
    *,
    on_startup: Hook = _nothing,
    on_shutdown: Hook = _nothing,
    on_request: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
) -> ASGIApp:
    """A hand-written ASGI app with lifespan support that logs what happens to it. Startup and
    shutdown hooks that raise make it send the matching *.failed message, as Starlette does."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            log.append(f"inner {scope['type']}")
            if on_request is not None:
                await on_request(scope, receive, send)
            return
        assert (await receive())["type"] == "lifespan.startup"
        log.append("inner startup")
        try:
            await on_startup()
        except Exception as exc:
            await send({"type": "lifespan.startup.failed", "message": f"inner said {exc}"})
            return
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        log.append("inner shutdown")
        try:
            await on_shutdown()
        except Exception as exc:
            await send({"type": "lifespan.shutdown.failed", "message": f"inner said {exc}"})
            return
        await send({"type": "lifespan.shutdown.complete"})

    return app


def http_scope(**extra: Any) -> Scope:
    return {"type": "http", "method": "GET", "path": "/", "headers": [], **extra}


async def no_receive() -> Message:
    raise AssertionError("the app should not receive")


async def no_send(message: Message) -> None:
    raise AssertionError("the app should not send")
