"""`uvicorn --reload` (README recipe 9) serving the notes service as a real process: a change
to a watched file replaces the worker process, whose lifespan closes the old engine once
before the new process opens its own."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from .conftest import server


def test_a_reload_closes_the_old_engine_once_and_the_new_process_serves(tmp_path: Path) -> None:
    watched = tmp_path / "watched"  # not tmp_path itself, where the server's output is written
    watched.mkdir()
    (watched / "settings.py").write_text("VERSION = 1\n")
    command = ["uvicorn", "examples.main:app", "--reload", "--reload-dir", str(watched)]
    database = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    with server(
        [*command, "--host", "127.0.0.1", "--port", "{port}"], tmp_path, DATABASE_URL=database
    ) as process:
        process.wait_ready()
        posted = httpx.post(f"{process.url}notes", json={"text": "before the reload"})
        assert posted.status_code == 201
        [(old, _)] = process.said("opened engine", who="notes")

        (watched / "settings.py").write_text("VERSION = 2\n")
        [_, (new, _)] = process.wait_said("opened engine", 2, who="notes")
        process.wait_ready()
        stats = httpx.get(f"{process.url}stats").json()
        notes = httpx.get(f"{process.url}notes").json()
        process.stop()

    assert new != old
    assert stats == {"notes_indexed": 0, "words_indexed": 0}  # the new app's own indexer
    assert [note["text"] for note in notes] == ["before the reload"]  # the same database
    # In the server's output, in order: the old process closed its engine once before the new
    # one opened its own, and the new one closed its own on SIGTERM.
    events = re.findall(r"^notes (\d+): (opened|disposed) engine", process.text(), re.M)
    assert events == [
        (str(old), "opened"),
        (str(old), "disposed"),
        (str(new), "opened"),
        (str(new), "disposed"),
    ]
