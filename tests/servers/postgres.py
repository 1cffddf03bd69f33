"""A throwaway PostgreSQL 15 cluster for the real-stack tests: initdb in a temporary directory,
run as the `postgres` user on 127.0.0.1 and a free port, logging at debug1 so that a dropped
connection shows; stopped and removed at the end, even when a test fails."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Generator
from contextlib import contextmanager, suppress
from pathlib import Path

from .conftest import START_BOUND, STOP_BOUND, free_port

BIN = Path("/usr/lib/postgresql/15/bin")


class Cluster:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log

    def psql(self, sql: str, database: str = "postgres") -> str:
        command = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        done = subprocess.run(
            [str(BIN / command[0]), *command[1:], "-d", database, "-Atc", sql],
            capture_output=True, text=True, timeout=STOP_BOUND, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    def create_database(self) -> str:
        name = f"notes_{uuid.uuid4().hex[:8]}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def connections(self, database: str) -> int:
        sql = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'"
        return int(self.psql(sql))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def cluster() -> Generator[Cluster]:
    directory = Path(tempfile.mkdtemp(prefix="lazgi-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    data, log = directory / "data", directory / "postgres.log"
    subprocess.run(
        [BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"],
        capture_output=True, timeout=120, check=True, cwd=directory,
        user="postgres", group="postgres", extra_groups=[],
    )  # fmt: skip
    port = free_port()
    settings = ["log_min_messages=debug1", "log_connections=on", "log_disconnections=on",
                "fsync=off", "max_connections=100"]  # fmt: skip
    options = [part for setting in settings for part in ("-c", setting)]
    server = [BIN / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port), "-k", directory]
    command = [str(part) for part in server] + options
    with log.open("wb") as sink:
        popen = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, cwd=directory,
            start_new_session=True, user="postgres", group="postgres", extra_groups=[],
        )  # fmt: skip
    try:
        running = Cluster(port, log)
        deadline = time.monotonic() + START_BOUND
        while True:
            try:
                running.psql("SELECT 1")
                break
            except subprocess.CalledProcessError:
                if popen.poll() is not None or time.monotonic() > deadline:
                    text = running.log_text()
                    raise RuntimeError(f"PostgreSQL did not start:\n{text}") from None
                time.sleep(0.05)  # polling with a bound, not synchronising
        yield running
    finally:
        with suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGINT)  # fast shutdown
        try:
            popen.wait(timeout=STOP_BOUND)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout=STOP_BOUND)
        shutil.rmtree(directory, ignore_errors=True)
