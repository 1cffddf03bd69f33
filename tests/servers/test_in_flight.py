"""What each server does with ASGI work still running when it stops, and what LazyApp adds: every
use of the factory's resource sees it open and comes before its close. Real processes, SIGTERM
while the work runs. Each deployment serves the same app twice: through LazyApp, and, as the
control, with the resource in Starlette's own lifespan, which shows what the server alone does
(the README's server table states both)."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import START_BOUND, STOP_BOUND, server
from .test_servers import ADDRESS_BIND, BIND

CLEANUPS = (0.2, 0.5, 0.8)  # seconds each cancelled /slow request's cleanup takes


@dataclass(frozen=True)
class Case:
    args: list[str]  # `python -m` arguments; MODULE stands for the app
    work: str  # "bg": work after the response; "slow": requests the server cancels
    server_keeps_order: bool  # without LazyApp, every use still comes before the close


CASES = {
    "granian --interface asgi": Case(
        ["granian", "MODULE", "--interface", "asgi", *BIND], "bg", server_keeps_order=False
    ),
    "granian --interface asgi --workers 2": Case(
        ["granian", "MODULE", "--interface", "asgi", "--workers", "2", *BIND],
        "bg",
        server_keeps_order=False,
    ),
    "uvicorn": Case(["uvicorn", "MODULE", *BIND], "bg", server_keeps_order=True),
    "uvicorn --timeout-graceful-shutdown 1": Case(
        ["uvicorn", "MODULE", "--timeout-graceful-shutdown", "1", *BIND],
        "slow",
        server_keeps_order=False,
    ),
    # Python 3.12's asyncio.Server.wait_closed() waits for every connection to close, and
    # hypercorn awaits it before its graceful timeout starts: there it waits with no limit.
    "hypercorn (asyncio worker) --graceful-timeout 1": Case(
        ["hypercorn", "MODULE", "--graceful-timeout", "1", *ADDRESS_BIND],
        "slow",
        server_keeps_order=sys.version_info >= (3, 12),
    ),
    "hypercorn (trio worker) --graceful-timeout 1": Case(
        ["hypercorn", "MODULE", "-k", "trio", "--graceful-timeout", "1", *ADDRESS_BIND],
        "slow",
        server_keeps_order=True,
    ),
}
APPS = {"LazyApp": "tests.servers.in_flight:lazy", "control": "tests.servers.in_flight:bare"}


def marks(marker: Path) -> list[tuple[int, str]]:
    lines = marker.read_text().splitlines() if marker.exists() else []
    return [(int(pid), event) for pid, event in (line.split(" ", 1) for line in lines)]


def wait_for(marker: Path, event: str, count: int) -> None:
    deadline = time.monotonic() + START_BOUND
    while sum(1 for _, said in marks(marker) if said == event) < count:
        assert time.monotonic() < deadline, marks(marker)
        time.sleep(0.05)  # polling with a bound, not synchronising


def in_order(events: list[tuple[int, str]], uses: int) -> bool:
    """Each worker's resource saw `uses` uses in all, each while open and before its close."""
    seen = 0
    for pid in {pid for pid, _ in events}:
        mine = [event for worker, event in events if worker == pid]
        for position, event in enumerate(mine):
            if event.startswith(("bg-done", "slow-cleanup")):
                seen += 1
                if not event.endswith(" open") or "close" in mine[:position]:
                    return False
    return seen == uses


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("name", CASES)
def test_every_use_of_the_resource_sees_it_open_before_its_close(
    name: str, app: str, tmp_path: Path
) -> None:
    case = CASES[name]
    marker = tmp_path / "marker"
    args = [APPS[app] if arg == "MODULE" else arg for arg in case.args]
    with server(args, tmp_path, MARKER=str(marker)) as process, ThreadPoolExecutor(3) as pool:
        process.wait_listening()
        if case.work == "bg":
            assert httpx.get(process.url + "bg", timeout=STOP_BOUND).text == "ok"
            uses = 1
        else:
            for cleanup in CLEANUPS:  # each answered with an error when the server cancels it
                pool.submit(httpx.get, f"{process.url}slow?cleanup={cleanup}", timeout=STOP_BOUND)
            wait_for(marker, "slow-start", len(CLEANUPS))
            uses = len(CLEANUPS)
        process.stop()
    events = marks(marker)
    said = [event for _, event in events]
    assert said.count("close") == said.count("open"), events  # every resource closed once
    kept = in_order(events, uses)
    assert kept is (app == "LazyApp" or case.server_keeps_order), (events, process.text())
