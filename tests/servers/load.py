"""The app the load tests serve: every request writes a row through the SQLite connection the
factory opened, so a write after the factory closed it would fail, loudly, in the server log."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from lazgi import LazyApp
from lazgi._types import ASGIApp, Receive, Scope, Send

from .probe import say


def create_app(db: sqlite3.Connection) -> ASGIApp:
    async def hit(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        with db:
            db.execute("INSERT INTO hits DEFAULT VALUES")
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    return hit


@asynccontextmanager
async def main() -> AsyncGenerator[ASGIApp]:
    db = sqlite3.connect(os.environ["LOAD_DB"], check_same_thread=False)
    db.execute("PRAGMA synchronous = OFF")  # durability is not what is measured here
    db.execute("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY)")
    say("opened database")
    try:
        yield create_app(db)
    finally:
        db.close()
        say("closed database")


app = LazyApp(main)
