"""LazyApp under a real uvicorn: the factory runs in the server's process, serves requests, and
is torn down exactly once on SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from .conftest import server

UVICORN = ["uvicorn", "tests.servers.app:app", "--host", "127.0.0.1", "--port", "{port}"]


def test_uvicorn_serves_the_factory_built_app_and_tears_it_down_on_sigterm(
    tmp_path: Path,
) -> None:
    with server([*UVICORN, "--lifespan", "on"], tmp_path) as process:
        process.wait_ready()
        body = httpx.get(process.url).json()
        assert body["pid"] == process.popen.pid
        assert process.events() == [(process.popen.pid, "enter")]
        # uvicorn re-raises the signal once its graceful shutdown is done.
        assert process.stop() == -signal.SIGTERM
    assert process.events() == [(process.popen.pid, "enter"), (process.popen.pid, "exit")]
    assert "Application shutdown complete" in process.text()


def test_uvicorn_exits_without_serving_when_the_factory_fails(tmp_path: Path) -> None:
    with server([*UVICORN, "--lifespan", "on"], tmp_path, LAZGI_TEST_FAIL="1") as process:
        code = process.wait_exit()
    assert code == 3
    assert "RuntimeError: the factory failed on purpose" in process.text()
    assert process.events() == [(process.popen.pid, "enter")]


def test_uvicorn_with_lifespan_off_fails_closed_with_the_hint(tmp_path: Path) -> None:
    with server([*UVICORN, "--lifespan", "off"], tmp_path) as process:
        process.wait_ready()
        response = httpx.get(process.url)
        process.stop()
    assert response.status_code == 500
    assert "NotStartedError" in process.text()
    assert "run the server with lifespan on" in process.text()
    assert process.events() == []  # the factory never ran
