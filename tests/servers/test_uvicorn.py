"""uvicorn without the lifespan protocol: LazyApp fails closed and says how to fix it."""

from __future__ import annotations

from pathlib import Path

import httpx

from .conftest import server


def test_uvicorn_with_lifespan_off_fails_closed_with_the_hint(tmp_path: Path) -> None:
    command = ["uvicorn", "tests.servers.probe:per_worker", "--lifespan", "off", "--port", "{port}"]
    with server([*command, "--host", "127.0.0.1"], tmp_path) as process:
        process.wait_ready()
        response = httpx.get(process.url)
        process.stop()
    assert response.status_code == 500
    output = process.text()
    assert "NotStartedError: LazyApp(main) has not started" in output
    assert "run the server with lifespan on" in output
    assert process.said("opened resource") == []  # the factory never ran
