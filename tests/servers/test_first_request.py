"""start_on_first_request under servers that run no lifespan, as real processes: concurrent
first requests make one start, in the worker, and every request is served by that app."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import server

SERVERS = {
    "daphne": ["daphne", "-b", "127.0.0.1", "-p", "{port}", "tests.servers.first_request:app"],
    "uvicorn --lifespan off": [
        "uvicorn", "tests.servers.first_request:app", "--lifespan", "off",
        "--host", "127.0.0.1", "--port", "{port}",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", SERVERS)
def test_concurrent_first_requests_start_the_app_once_and_are_all_served(
    name: str, tmp_path: Path
) -> None:
    with server(SERVERS[name], tmp_path) as process:
        process.wait_listening()

        def get(_: int) -> dict[str, object]:
            body: dict[str, object] = httpx.get(process.url, timeout=30).json()
            return body

        with ThreadPoolExecutor(32) as pool:  # 32 first requests at once, on new connections
            bodies = list(pool.map(get, range(32)))
        opened = process.said("opened resource")
        process.stop()
    assert len(opened) == 1, process.text()
    ((pid, resource_id),) = opened
    assert {(body["pid"], body["resource"]) for body in bodies} == {(pid, resource_id)}
