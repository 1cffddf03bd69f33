"""Load: 50,000 requests at concurrency 64 through uvicorn against a LazyApp whose factory holds
a real SQLite connection, then SIGTERM in the middle of a load."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

from .conftest import START_BOUND, STOP_BOUND, Process, server

LOADED = 2_000  # rows written before the SIGTERM

UVICORN = ["uvicorn", "tests.servers.load:app", "--host", "127.0.0.1", "--port", "{port}",
           "--no-access-log"]  # fmt: skip


def ab(process: Process, requests: int, *options: str) -> subprocess.Popen[str]:
    """Apache Bench with keep-alive, at concurrency 64."""
    return subprocess.Popen(
        ["ab", "-q", "-k", "-c", "64", "-n", str(requests), *options, process.url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:  # closed: Python 3.13 warns of one left open
        return int(db.execute("SELECT count(*) FROM hits").fetchone()[0])


def test_fifty_thousand_requests_at_concurrency_64_all_succeed(tmp_path: Path) -> None:
    database = tmp_path / "load.db"
    with server(UVICORN, tmp_path, LOAD_DB=str(database)) as process:
        process.wait_ready()
        load = ab(process, 50_000)
        report, _ = load.communicate(timeout=120)
        process.stop()
    assert "Complete requests:      50000" in report, report
    assert "Failed requests:        0" in report, report
    assert "Non-2xx responses" not in report, report
    assert len(process.said("opened database")) == 1
    assert len(process.said("closed database")) == 1
    assert rows(database) == 50_000 + 1  # and the one request of wait_ready


def test_sigterm_under_load_drains_closes_once_and_writes_nothing_after(tmp_path: Path) -> None:
    database = tmp_path / "load.db"
    with server(UVICORN, tmp_path, LOAD_DB=str(database)) as process:
        process.wait_ready()
        load = ab(process, 10_000_000, "-r", "-s", "5")  # -r: go on past socket errors
        # SIGTERM once the load is well under way: poll the database, with a bound.
        deadline = time.monotonic() + START_BOUND
        while rows(database) < LOADED and time.monotonic() < deadline:
            time.sleep(0.05)
        code = process.stop()
        load.send_signal(signal.SIGINT)  # ab reports what it saw so far, and ends
        report, _ = load.communicate(timeout=STOP_BOUND)
    output = process.text()
    assert code == -signal.SIGTERM, output  # uvicorn re-raises SIGTERM after its graceful shutdown
    assert len(process.said("opened database")) == 1
    assert len(process.said("closed database")) == 1
    # No request wrote after the close (it would have raised "closed database" in the log),
    # and none got an error response: in-flight ones finished, later ones were refused.
    assert "Cannot operate on a closed database" not in output
    assert "Traceback" not in output, output
    # ab either reports in full when interrupted, or stops by itself once connections are
    # refused ("Test aborted after 10 failures ... Total of N requests completed").
    counts = re.findall(r"Complete requests:\s+(\d+)|Total of (\d+) requests completed", report)
    assert counts, report
    served = int("".join(counts[0]))  # one of the two groups matched
    non_2xx = re.findall(r"Non-2xx responses:\s+(\d+)", report)
    assert not non_2xx, report
    assert rows(database) >= LOADED
    assert served >= LOADED, report
