"""Real server processes on a free 127.0.0.1 port: started, polled until ready (never slept
on), bounded by a timeout, and killed with their whole process group at the end."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

START_BOUND = 30  # seconds a server may take to serve its first request
STOP_BOUND = 30  # seconds a server may take to exit, after a signal or a failed startup
ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    def __init__(self, popen: subprocess.Popen[bytes], url: str, output: Path) -> None:
        self.popen = popen
        self.url = url
        self.output = output

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def said(self, what: str, who: str = "worker") -> list[tuple[int, str]]:
        """(pid, rest of the line) of each `<who> PID: <what>` line the apps printed, in order."""
        pattern = rf"^{who} (\d+): {re.escape(what)}[ \t]*(.*)$"
        return [(int(pid), rest) for pid, rest in re.findall(pattern, self.text(), re.M)]

    def wait_ready(self) -> None:
        """Poll until the server answers a request; fail if it exits or the bound passes."""
        self._poll(lambda: httpx.get(self.url, timeout=1), httpx.TransportError, "answer")

    def wait_listening(self) -> None:
        """Poll until the server accepts connections, without sending it a request."""
        host, port = self.url.split("//")[1].strip("/").split(":")
        address = (host, int(port))
        self._poll(lambda: socket.create_connection(address, timeout=1).close(), OSError, "listen")

    def wait_said(self, what: str, times: int, who: str = "worker") -> list[tuple[int, str]]:
        """Poll until the apps printed `times` lines saying `what`; return them, as `said`."""

        def enough() -> None:
            if len(self.said(what, who)) < times:
                raise LookupError(what)

        self._poll(enough, LookupError, f"print {times} '{who} PID: {what}' lines")
        return self.said(what, who)

    def _poll(self, attempt: Callable[[], object], refused: type[Exception], what: str) -> None:
        deadline = time.monotonic() + START_BOUND
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(f"the server exited with {self.popen.returncode}:\n{self.text()}")
            try:
                attempt()
            except refused:
                time.sleep(0.05)  # polling with a bound, not synchronising
            else:
                return
        pytest.fail(f"the server did not {what} within {START_BOUND} s:\n{self.text()}")

    def wait_exit_unserved(self) -> int:
        """Poll until the server exits by itself, failing if it ever answers a request."""
        deadline = time.monotonic() + STOP_BOUND
        while self.popen.poll() is None and time.monotonic() < deadline:
            try:
                response = httpx.get(self.url, timeout=1)
            except httpx.TransportError:
                time.sleep(0.05)  # polling with a bound, not synchronising
            else:
                pytest.fail(f"a server whose app failed to start answered {response}")
        return self.wait_exit()

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
    """Run `python -m <args>` with {port} filled in; kill its process group at the end."""
    port = free_port()
    output = tmp_path / "server.out"
    command = [sys.executable, "-m", *(arg.format(port=port) for arg in args)]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    with output.open("wb") as sink:
        popen = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=ROOT,
            start_new_session=True,  # the server and its workers form one process group
        )
    try:
        yield Process(popen, f"http://127.0.0.1:{port}/", output)
    finally:
        with suppress(ProcessLookupError):  # the whole group has exited already
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=STOP_BOUND)
