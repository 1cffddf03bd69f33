"""Apps the server tests serve.

`per_worker` opens a resource (an identity, made in the process that opened it) on each
factory call and closes it on exit, so that the tests see which process opened what, and when.

`app` reports what the server put in the request scope: its inner app has no lifespan state,
so LazyApp adds none, and `state` is in the scope only if the server supports lifespan state.
`failing` has a factory that raises, as when the database is down at startup; `one_fails` one
whose first start raises and whose later ones succeed."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio

from lazgi import LazyApp
from lazgi._types import ASGIApp, Receive, Scope, Send


def say(text: str) -> None:
    # One write per line, so that lines from several workers never interleave.
    os.write(sys.stderr.fileno(), f"worker {os.getpid()}: {text}\n".encode())


def create_app(resource: str, opened_by: int) -> ASGIApp:
    async def home(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan support of its own: LazyApp serves it anyway
        body = {"pid": os.getpid(), "resource": resource, "resource_pid": opened_by}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    return home


@asynccontextmanager
async def main() -> AsyncGenerator[ASGIApp]:
    resource = uuid.uuid4().hex[:12]
    say(f"opened resource {resource}")
    try:
        yield create_app(resource, os.getpid())
    finally:
        say(f"closed resource {resource}")


per_worker = LazyApp(main)


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
    """A resource and a background worker that dies when a request asks it to: the crash while
    running that exit_on_crash turns into a restart."""
    resource = uuid.uuid4().hex[:12]
    die = anyio.Event()

    async def worker() -> None:
        await die.wait()
        raise RuntimeError("background worker died")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = json.dumps({"pid": os.getpid(), "resource": resource}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        if scope["path"] == "/crash":  # once this request was answered
            die.set()

    say(f"opened resource {resource}")
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker)
            yield app
            tasks.cancel_scope.cancel()
    finally:
        say(f"closed resource {resource}")


crashing = LazyApp(dies_on_request, exit_on_crash=True)


@asynccontextmanager
async def fails_in_one_worker() -> AsyncGenerator[ASGIApp]:
    """The first worker to start fails its start (the database was away for it); every other
    start succeeds. FIRST_FAILS names the file that only the first one creates."""
    try:
        os.close(os.open(os.environ["FIRST_FAILS"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        say("started")
        yield report
        return
    say("failed to start")
    raise ConnectionRefusedError("the database is down")


one_fails = LazyApp(fails_in_one_worker)
