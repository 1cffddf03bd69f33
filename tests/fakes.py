"""The fakes the tests share: a logged resource, a composition root, a hand-written inner app,
one scripted-app notation, and the misbehaviour table that both drivers, `lifespan()` and
LazyApp, are held to."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from lazgi import LazyApp
from lazgi._types import ASGIApp, Message, Receive, Scope, Send


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


class Composition:
    """A composition root: it opens `db` then `http` (logged), yields the app (by default an
    `inner_app` logging to the same log), and closes them in reverse. Knobs make a step wait or
    fail: `enter` runs after opening, `exit` at teardown, `yields` replaces the app."""

    def __init__(
        self,
        app: ASGIApp | None = None,
        *,
        enter: Callable[[], Awaitable[None]] | None = None,
        exit: Callable[[], Awaitable[None]] | None = None,
        yields: object = None,
    ) -> None:
        self.log: list[str] = []
        self.db = Resource("db", self.log)
        self.http = Resource("http", self.log)
        self.app = app
        self.enter, self.exit, self.yields = enter, exit, yields
        self.seen_at_yield: list[str] = []  # what was thrown in at the yield

    @asynccontextmanager
    async def main(self) -> AsyncGenerator[Any]:
        self.log.append("factory enter")
        async with self.db, self.http:
            if self.enter is not None:
                await self.enter()
            try:
                yield self.yields if self.yields is not None else self.app or inner_app(self.log)
            except BaseException as exc:
                self.seen_at_yield.append(type(exc).__name__)
                raise
            finally:
                if self.exit is not None:
                    await self.exit()
        self.log.append("factory exit")

    def lazy(self, **options: Any) -> LazyApp[Any]:
        return LazyApp(self.main, **options)


class Scripted:
    """A lifespan-only app that performs its steps in order, in the tests' one notation:
    "receive"; "hang" (forever); "raise TEXT" (RuntimeError); anything else sends
    `lifespan.<first word>`, with the rest, if any, as its message ("startup.failed no db").
    `got` records the scope it was called with, then the type of each event it received."""

    def __init__(self, *steps: str) -> None:
        self.steps = steps
        self.got: list[Any] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.got.append(scope)
        for step in self.steps:
            verb, _, text = step.partition(" ")
            if verb == "receive":
                self.got.append((await receive())["type"])
            elif verb == "hang":
                await anyio.sleep_forever()
            elif verb == "raise":
                raise RuntimeError(text)
            else:
                message: Message = {"type": f"lifespan.{verb}"}
                if text:
                    message["message"] = text
                await send(message)


NORMAL = ("receive", "startup.complete", "receive", "shutdown.complete")


@dataclass(frozen=True)
class Row:
    steps: tuple[str, ...]  # what the app does, in Scripted's notation
    replies: tuple[str, ...]  # what a server hears from LazyApp: "<type>" or "<type>: <words>"


# Run with startup_timeout and shutdown_timeout of TIMEOUT. lifespan() raises the error of the
# failed event with the same words: its errors and LazyApp's *.failed messages read alike.
TIMEOUT = 0.05
MISBEHAVIOUR = {
    "sends startup.complete twice": Row(
        (*NORMAL[:2], "startup.complete", "receive", "shutdown.complete"),
        (
            "lifespan.startup.complete",
            "lifespan.shutdown.failed: crashed while running: RuntimeError: the app sent "
            "'lifespan.startup.complete' while the lifespan protocol expected nothing",
        ),
    ),
    "sends shutdown.complete during startup": Row(
        ("receive", "shutdown.complete"),
        (
            "lifespan.startup.failed: sent 'lifespan.shutdown.complete' while the lifespan "
            "protocol expected lifespan.startup.complete or lifespan.startup.failed",
        ),
    ),
    "sends an unknown message type": Row(
        ("receive", "hello"),
        ("lifespan.startup.failed: the app sent 'lifespan.hello'",),
    ),
    "receives again before answering startup": Row(
        ("receive", "receive"),
        ("lifespan.startup.failed: receive() again before completing lifespan.startup",),
    ),
    "reports a failure with no message": Row(
        ("receive", "startup.failed"),
        ("lifespan.startup.failed: the app sent lifespan.startup.failed: ",),
    ),
    "never calls receive: returns at once": Row(
        (),
        ("lifespan.startup.complete", "lifespan.shutdown.complete"),
    ),
    "never calls receive: answers startup, returns": Row(
        ("startup.complete",),
        ("lifespan.startup.complete", "lifespan.shutdown.complete"),
    ),
    "calls receive after shutdown": Row(
        (*NORMAL, "receive"),
        (
            "lifespan.startup.complete",
            "lifespan.shutdown.failed: receive() after lifespan.shutdown",
        ),
    ),
    "blocks forever in startup": Row(
        ("receive", "hang"),
        ("lifespan.startup.failed: startup_timeout (0.05 s) passed while the app handled",),
    ),
    "blocks forever in shutdown": Row(
        (*NORMAL[:3], "hang"),
        (
            "lifespan.startup.complete",
            "lifespan.shutdown.failed: shutdown_timeout (0.05 s) passed while the app handled",
        ),
    ),
    "blocks before its first receive()": Row(
        ("hang",),
        ("lifespan.startup.failed: startup_timeout (0.05 s) passed while the app handled",),
    ),
    "answers shutdown.complete, then blocks": Row(
        (*NORMAL, "hang"),
        (
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ),  # once shutdown_timeout ends it
    ),
    "reports its own crash while running (shutdown.failed unasked), then blocks": Row(
        (*NORMAL[:2], "shutdown.failed db connection lost", "hang"),
        (
            "lifespan.startup.complete",
            "lifespan.shutdown.failed: the app crashed while running: the app sent "
            "lifespan.shutdown.failed: db connection lost",
        ),
    ),
    "answers startup.failed, then blocks": Row(
        ("receive", "startup.failed", "hang"),
        ("lifespan.startup.failed: the app sent lifespan.startup.failed",),
    ),
}
