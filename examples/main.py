"""A small notes service whose composition root is a LazyApp factory.

    uvicorn examples.main:app --host 127.0.0.1 --port 8000

`main()` opens every resource the app needs, inside the running event loop, and passes each one
to `create_app` explicitly: no `app.state`, no globals. Closing happens in reverse order when the
server shuts down.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from functools import partial

import anyio
import httpx
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from lazgi import LazyApp


class NoteIn(BaseModel):
    text: str


class Note(BaseModel):
    id: int
    text: str


class Stats(BaseModel):
    notes_indexed: int = 0
    words_indexed: int = 0


class Notes:
    """The notes table, on one SQLite connection used from worker threads, one call at a time."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._lock = anyio.Lock()

    async def add(self, text: str) -> Note:
        async with self._lock:
            cursor = await anyio.to_thread.run_sync(self._insert, text)
        assert cursor.lastrowid is not None
        return Note(id=cursor.lastrowid, text=text)

    async def all(self) -> list[Note]:
        async with self._lock:
            rows = await anyio.to_thread.run_sync(self._select)
        return [Note(id=row[0], text=row[1]) for row in rows]

    def _insert(self, text: str) -> sqlite3.Cursor:
        with self._connection:
            return self._connection.execute("INSERT INTO notes (text) VALUES (?)", (text,))

    def _select(self) -> list[tuple[int, str]]:
        return self._connection.execute("SELECT id, text FROM notes ORDER BY id").fetchall()


@asynccontextmanager
async def open_notes(path: str) -> AsyncGenerator[Notes]:
    """Open the database at `path` and create its schema."""
    connect = partial(sqlite3.connect, path, check_same_thread=False)
    connection = await anyio.to_thread.run_sync(connect)
    try:
        await anyio.to_thread.run_sync(
            connection.execute,
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)",
        )
        yield Notes(connection)
    finally:
        await anyio.to_thread.run_sync(connection.close)


async def index(new_notes: ObjectReceiveStream[Note], stats: Stats) -> None:
    """The background task: counts the words of every new note."""
    async with new_notes:
        async for note in new_notes:
            stats.notes_indexed += 1
            stats.words_indexed += len(note.text.split())


def create_app(
    notes: Notes, http: httpx.AsyncClient, indexer: ObjectSendStream[Note], stats: Stats
) -> FastAPI:
    """The web app, given everything it uses."""
    app = FastAPI(title="notes")

    @app.post("/notes", status_code=201)
    async def add_note(note: NoteIn) -> Note:
        added = await notes.add(note.text)
        await indexer.send(added)
        return added

    @app.get("/notes")
    async def list_notes() -> list[Note]:
        return await notes.all()

    @app.post("/notes/import", status_code=201)
    async def import_note(url: str) -> Note:
        """Store the text found at `url` as a note."""
        try:
            response = await http.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"could not fetch {url}: {exc}") from None
        return await add_note(NoteIn(text=response.text))

    @app.get("/stats")
    async def get_stats() -> Stats:
        return stats

    return app


@asynccontextmanager
async def main() -> AsyncGenerator[FastAPI]:
    """The composition root: open the resources, build the app with them, close them after."""
    path = os.environ.get("NOTES_DB", "notes.db")
    stats = Stats()
    to_indexer, new_notes = anyio.create_memory_object_stream[Note](100)
    async with (
        open_notes(path) as notes,
        httpx.AsyncClient(timeout=10) as http,
        anyio.create_task_group() as tasks,
        to_indexer,
    ):
        tasks.start_soon(index, new_notes, stats)
        yield create_app(notes, http, to_indexer, stats)


app = LazyApp(main)
