"""Real server processes on a free 127.0.0.1 port: started, polled until ready (never slept
on), bounded by a timeout, and killed by their own pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

START_BOUND = 30  # seconds a server may take to serve its first request
STOP_BOUND = 30  # seconds a server may take to exit after a signal


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    def __init__(self, popen: subprocess.Popen[bytes], url: str, log: Path, output: Path) -> None:
        self.popen = popen
        self.url = url
        self.log = log
        self.output = output

    def events(self) -> list[tuple[int, str]]:
        """The factory's recorded life: (worker pid, event) in order."""
        if not self.log.exists():
            return []
        lines = self.log.read_text().split()
        return [(int(pid), event) for pid, event in zip(lines[::2], lines[1::2], strict=True)]

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_ready(self) -> None:
        """Poll until the server answers; fail if it exits or the bound passes."""
        deadline = time.monotonic() + START_BOUND
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(f"the server exited with {self.popen.returncode}:\n{self.text()}")
            try:
                httpx.get(self.url, timeout=1)
            except httpx.TransportError:
                time.sleep(0.05)  # polling with a bound, not synchronising
            else:
                return
        pytest.fail(f"the server did not answer within {START_BOUND} s:\n{self.text()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send `sig` and return the exit code."""
        self.popen.send_signal(sig)
        return self.wait_exit()

    def wait_exit(self) -> int:
        try:
            return self.popen.wait(timeout=STOP_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not exit within {STOP_BOUND} s:\n{self.text()}")


@contextmanager
def server(args: list[str], tmp_path: Path, **env: str) -> Generator[Process]:
    """Run `python -m <args>` with {port} filled in, and kill it by pid at the end."""
    port = free_port()
    log, output = tmp_path / "factory.log", tmp_path / "server.out"
    command = [sys.executable, "-m", *(arg.format(port=port) for arg in args)]
    environment = {**os.environ, "LAZGI_TEST_LOG": str(log), "PYTHONUNBUFFERED": "1", **env}
    with output.open("wb") as sink:
        popen = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=Path(__file__).parents[2],
            start_new_session=True,  # its workers form a group we can kill as a whole
        )
    process = Process(popen, f"http://127.0.0.1:{port}/", log, output)
    try:
        yield process
    finally:
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout=STOP_BOUND)
