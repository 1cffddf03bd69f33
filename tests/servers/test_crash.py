"""exit_on_crash=True under every server, as real processes: a background task of one
worker's factory dies while it serves; that worker closes its resource once and sends itself
SIGTERM. What each deployment then does is what the README's crash table states: a
supervisor replaces the worker, or the server exits with the status below."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import START_BOUND, Process, server
from .test_servers import ADDRESS_BIND, BIND

GUNICORN = ["gunicorn", "tests.servers.probe:crashing", "-k", "uvicorn_worker.UvicornWorker"]


@dataclass(frozen=True)
class Outcome:
    args: list[str]  # `python -m` arguments
    replaced: bool  # a fresh worker serves afterwards; otherwise the server exits...
    exit: int | None = None  # ...with this status


GRANIAN = ["granian", "tests.servers.probe:crashing", "--interface", "asgi", "--workers", "2"]
DEPLOYMENTS = {
    "uvicorn": Outcome(["uvicorn", "tests.servers.probe:crashing", *BIND], False, -signal.SIGTERM),
    "uvicorn --workers 2": Outcome(
        ["uvicorn", "tests.servers.probe:crashing", "--workers", "2", *BIND], True
    ),
    "gunicorn -k uvicorn_worker.UvicornWorker -w 2": Outcome(
        [*GUNICORN, "-w", "2", *ADDRESS_BIND], True
    ),
    "hypercorn, asyncio worker": Outcome(
        ["hypercorn", "tests.servers.probe:crashing", *ADDRESS_BIND], False, 0
    ),
    "hypercorn, trio worker": Outcome(
        ["hypercorn", "tests.servers.probe:crashing", "-k", "trio", *ADDRESS_BIND], False, 0
    ),
    "granian --workers 2": Outcome([*GRANIAN, *BIND], False, 1),
    "granian --workers 2 --respawn-failed-workers": Outcome(
        [*GRANIAN, "--respawn-failed-workers", *BIND], True
    ),
}


def fresh_worker(process: Process, gone: int) -> dict[str, object]:
    """Poll until a worker other than `gone` and the ones seen before answers with a resource that
    was opened after the crash; 500s from the crashed worker, and refused connections while
    it restarts, are part of the wait."""
    known = {pid for pid, _ in process.said("opened resource")}
    deadline = time.monotonic() + START_BOUND
    while time.monotonic() < deadline:
        try:
            response = httpx.get(process.url, timeout=2)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            body: dict[str, object] = response.json()
            if body["pid"] not in known | {gone}:
                return body
        time.sleep(0.05)  # polling with a bound, not synchronising
    pytest.fail(f"no fresh worker answered within {START_BOUND} s:\n{process.text()}")


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_a_crash_closes_the_resource_once_then_the_worker_is_replaced_or_the_server_exits(
    name: str, tmp_path: Path
) -> None:
    outcome = DEPLOYMENTS[name]
    with server(outcome.args, tmp_path) as process:
        process.wait_ready()
        crashed = httpx.get(process.url + "crash", timeout=5).json()
        if outcome.replaced:
            body = fresh_worker(process, crashed["pid"])
            assert body["resource"] != crashed["resource"]
            assert (body["pid"], f"{body['resource']}") in process.said("opened resource")
            code = process.stop()
            assert code in (0, -signal.SIGTERM)
        else:
            code = process.wait_exit()
            assert code == outcome.exit, process.text()
    output = process.text()
    assert "crashed while running: RuntimeError: background worker died" in output
    assert "sends its process SIGTERM (exit_on_crash=True)" in output
    pid, resource = int(str(crashed["pid"])), str(crashed["resource"])
    assert process.said("opened resource").count((pid, resource)) == 1
    assert process.said("closed resource").count((pid, resource)) == 1, output
