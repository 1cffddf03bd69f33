"""A throwaway PostgreSQL 15 cluster for the real-stack tests: initdb in a temporary directory,
run as the `postgres` user on 127.0.0.1 and a free port, logging at debug1 so that a dropped
connection shows; stoppable and startable again for restarts and outages; stopped and removed at
the end, even when a test fails."""

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
    """A PostgreSQL server of the test's own, which a test may stop and start again (a restart,
    an outage) on the same port and data."""

    def __init__(self, directory: Path, settings: list[str]) -> None:
        self.directory = directory
        self.data, self.log = directory / "data", directory / "postgres.log"
        self.port = free_port()
        self.settings = settings
        self.popen: subprocess.Popen[bytes] | None = None

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

    def start(self) -> None:
        options = [part for setting in self.settings for part in ("-c", setting)]
        server = [BIN / "postgres", "-D", self.data, "-h", "127.0.0.1", "-p", str(self.port)]
        command = [str(part) for part in [*server, "-k", self.directory]] + options
        with self.log.open("ab") as sink:
            self.popen = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, cwd=self.directory,
                start_new_session=True, user="postgres", group="postgres", extra_groups=[],
            )  # fmt: skip
        deadline = time.monotonic() + START_BOUND
        while True:
            try:
                self.psql("SELECT 1")
            except subprocess.CalledProcessError:
                if self.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.log_text()}") from None
                time.sleep(0.05)  # polling with a bound, not synchronising
            else:
                return

    def stop(self) -> None:
        """A fast shutdown: every connection is cut, as in a failover or a minor upgrade."""
        if self.popen is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGINT)
        try:
            self.popen.wait(timeout=STOP_BOUND)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=STOP_BOUND)
        self.popen = None


@contextmanager
def cluster(*settings: str) -> Generator[Cluster]:
    """A fresh cluster (initdb) with these settings besides the ones every test needs; stopped
    and removed at the end, even when a test fails."""
    directory = Path(tempfile.mkdtemp(prefix="lazgi-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    subprocess.run(
        [BIN / "initdb", "-D", directory / "data", "-U", "postgres", "--auth=trust", "--no-sync"],
        capture_output=True, timeout=120, check=True, cwd=directory,
        user="postgres", group="postgres", extra_groups=[],
    )  # fmt: skip
    base = ["log_min_messages=debug1", "log_connections=on", "log_disconnections=on",
            "fsync=off", "max_connections=100"]  # fmt: skip
    running = Cluster(directory, [*base, *settings])
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(directory, ignore_errors=True)
