"""LazyApp under every server people deploy, as real processes answering real HTTP on 127.0.0.1.

Each row of SERVERS is one deployment. What the tests measure here is what the README's server
table states: the exit codes, and whether the server gives requests the lifespan state.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import START_BOUND, Process, server

BIND = ["--host", "127.0.0.1", "--port", "{port}"]
ADDRESS_BIND = ["-b", "127.0.0.1:{port}"]


@dataclass(frozen=True)
class Deployment:
    args: list[str]  # `python -m` arguments, with MODULE standing for the app's import path
    workers: int
    stopped_exit: int  # exit code after SIGTERM
    failed_exits: frozenset[int]  # exit codes when the factory raises
    server_state: bool  # the server copies the lifespan state into request scopes

    def command(self, module: str) -> list[str]:
        return [module if arg == "MODULE" else arg for arg in self.args]


SERVERS = {
    "uvicorn, lifespan auto": Deployment(
        ["uvicorn", "MODULE", *BIND], 1, -signal.SIGTERM, frozenset({3}), True
    ),
    "uvicorn, lifespan on": Deployment(
        ["uvicorn", "MODULE", "--lifespan", "on", *BIND], 1, -signal.SIGTERM, frozenset({3}), True
    ),
    "uvicorn --workers 2": Deployment(
        ["uvicorn", "MODULE", "--workers", "2", *BIND], 2, 0, frozenset({0}), True
    ),
    "hypercorn, asyncio worker": Deployment(
        ["hypercorn", "MODULE", *ADDRESS_BIND], 1, 0, frozenset({0}), True
    ),
    "hypercorn, trio worker": Deployment(
        ["hypercorn", "MODULE", "-k", "trio", *ADDRESS_BIND],
        1,
        0,
        frozenset({0}),
        True,
    ),
    "granian --interface asgi": Deployment(
        ["granian", "MODULE", "--interface", "asgi", *BIND], 1, 0, frozenset({1}), True
    ),
    "granian --interface asgi --workers 2": Deployment(
        ["granian", "MODULE", "--interface", "asgi", "--workers", "2", *BIND],
        2,
        0,
        frozenset({1}),
        True,
    ),
    "gunicorn -k uvicorn_worker.UvicornWorker -w 2": Deployment(
        ["gunicorn", "MODULE", "-k", "uvicorn_worker.UvicornWorker", "-w", "2", *ADDRESS_BIND],
        2,
        0,
        frozenset({3, 1}),  # 1 when both workers fail at the same moment
        True,
    ),
    "gunicorn -k uvicorn_worker.UvicornWorker -w 2 --preload": Deployment(
        [
            "gunicorn",
            "MODULE",
            "-k",
            "uvicorn_worker.UvicornWorker",
            "-w",
            "2",
            "--preload",
            *ADDRESS_BIND,
        ],
        2,
        0,
        frozenset({3, 1}),
        True,
    ),
}

SEE_EVERY_WORKER_BOUND = 20  # seconds to keep opening connections until each worker answered


def bodies_from_every_worker(process: Process, workers: int) -> list[dict[str, object]]:
    """Request over new connections until `workers` distinct processes answered (bounded)."""
    bodies: list[dict[str, object]] = []
    deadline = time.monotonic() + SEE_EVERY_WORKER_BOUND
    while len({body["pid"] for body in bodies}) < workers and time.monotonic() < deadline:
        bodies.append(httpx.get(process.url, timeout=5).json())
    return bodies


@pytest.mark.parametrize("name", SERVERS)
def test_each_worker_serves_with_its_own_resource_and_closes_it_once_on_sigterm(
    name: str, tmp_path: Path
) -> None:
    deployment = SERVERS[name]
    with server(deployment.command("tests.servers.probe:per_worker"), tmp_path) as process:
        process.wait_ready()
        bodies = bodies_from_every_worker(process, deployment.workers)
        opened = dict(process.said("opened resource"))
        code = process.stop()
    closed = process.said("closed resource")
    # One resource per worker, opened in that worker, after any fork: never in the master.
    assert len(opened) == deployment.workers, process.text()
    assert process.popen.pid not in opened or deployment.workers == 1
    for body in bodies:
        assert body["resource_pid"] == body["pid"]
        assert opened[int(str(body["pid"]))] == body["resource"]
    assert {body["pid"] for body in bodies} == set(opened)
    # SIGTERM: every resource closed, exactly once, by the worker that opened it.
    assert sorted(closed) == sorted(opened.items()), process.text()
    assert code == deployment.stopped_exit


@pytest.mark.parametrize("name", SERVERS)
def test_a_failing_factory_means_no_request_is_served_and_the_server_exits(
    name: str, tmp_path: Path
) -> None:
    deployment = SERVERS[name]
    with server(deployment.command("tests.servers.probe:failing"), tmp_path) as process:
        code = process.wait_exit_unserved()
    output = process.text()
    assert code in deployment.failed_exits, output
    assert "ConnectionRefusedError: the database is down" in output
    calls = Counter(pid for pid, _ in process.said("factory called"))
    assert 1 <= len(calls) <= deployment.workers
    assert set(calls.values()) == {1}  # no worker retried on its own


@pytest.mark.parametrize("name", SERVERS)
def test_whether_the_server_gives_requests_the_lifespan_state(name: str, tmp_path: Path) -> None:
    deployment = SERVERS[name]
    with server(deployment.command("tests.servers.probe:app"), tmp_path) as process:
        process.wait_ready()
        body = httpx.get(process.url, timeout=5).json()
        process.stop()
    assert body["server_state"] is deployment.server_state


# Deployments of several workers, and what each does when one worker's start fails while the
# others start (measured below, stated in the README): "exits N" (the whole server, the healthy
# worker too, with status N), "replaces it" (a fresh worker starts and serves), or "serves on"
# (the others serve, one worker short).
ONE_FAILS = {
    "uvicorn --workers 2": (SERVERS["uvicorn --workers 2"].args, "exits 0"),
    "gunicorn -k uvicorn_worker.UvicornWorker -w 2": (
        SERVERS["gunicorn -k uvicorn_worker.UvicornWorker -w 2"].args,
        "exits 3",
    ),
    "granian --interface asgi --workers 2": (
        SERVERS["granian --interface asgi --workers 2"].args,
        "exits 1",
    ),
    "granian --interface asgi --workers 2 --respawn-failed-workers": (
        [*SERVERS["granian --interface asgi --workers 2"].args, "--respawn-failed-workers"],
        "replaces it",
    ),
    "hypercorn --workers 2": (["hypercorn", "MODULE", "--workers", "2", *ADDRESS_BIND], "exits 0"),
}
SERVES_ON_BOUND = 5  # seconds a server that neither exits nor replaces the worker is watched


@pytest.mark.parametrize("name", ONE_FAILS)
def test_what_the_server_does_when_one_workers_start_fails(name: str, tmp_path: Path) -> None:
    args, expected = ONE_FAILS[name]
    command = ["tests.servers.probe:one_fails" if arg == "MODULE" else arg for arg in args]
    with server(command, tmp_path, FIRST_FAILS=str(tmp_path / "first")) as process:
        deadline = time.monotonic() + START_BOUND
        while not process.said("failed to start") and time.monotonic() < deadline:
            time.sleep(0.05)  # polling with a bound, not synchronising
        deadline = time.monotonic() + SERVES_ON_BOUND
        while process.popen.poll() is None and len(process.said("started")) < 2:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)  # polling with a bound, not synchronising
        if process.popen.poll() is not None:
            outcome = f"exits {process.wait_exit()}"
        else:
            outcome = "replaces it" if len(process.said("started")) == 2 else "serves on"
            httpx.get(process.url, timeout=5).raise_for_status()
            process.stop()
    assert process.said("failed to start"), process.text()
    assert outcome == expected, process.text()
