"""The README's Python blocks, run in order as one module, so that its code cannot rot: every
block must execute, and every `test_` function the blocks define runs on asyncio and trio."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

README = Path(__file__).parents[1] / "README.md"


def readme_namespace() -> dict[str, Any]:
    blocks = re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.M | re.S)
    assert len(blocks) >= 4
    namespace: dict[str, Any] = {"__name__": "readme"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
    return namespace


NAMESPACE = readme_namespace()
DEFINED = {name: test for name, test in NAMESPACE.items() if name.startswith("test_")}
TESTS = {name: test for name, test in DEFINED.items() if inspect.iscoroutinefunction(test)}
SYNC_TESTS = {name: test for name, test in DEFINED.items() if name not in TESTS}


def test_the_readme_defines_its_tests() -> None:
    assert set(TESTS) == {
        "test_home",
        "test_home_with_a_fake_client",
        "test_websocket_sees_the_lifespan_state",
        "test_home_with_lifespan_manager",
    }
    assert set(SYNC_TESTS) == {"test_home_with_testclient"}  # on trio: tests/recipes/


@pytest.mark.anyio
@pytest.mark.parametrize("name", TESTS)
async def test_readme(name: str) -> None:
    test: Callable[[], Coroutine[Any, Any, None]] = TESTS[name]
    await test()


@pytest.mark.parametrize("name", SYNC_TESTS)
def test_readme_sync(name: str) -> None:
    test: Callable[[], None] = SYNC_TESTS[name]
    test()


def test_the_readme_shows_the_files_it_names_as_they_are() -> None:
    """A block fenced ```LANGUAGE file=PATH is that file, verbatim: its test runs the file."""
    shown = re.findall(r"^```\w+ file=(\S+)\n(.*?)^```$", README.read_text(), re.M | re.S)
    assert [path for path, _ in shown] == [
        "tests/recipes/asyncio_session/pyproject.toml",
        "tests/recipes/asyncio_session/conftest.py",
        "tests/recipes/asyncio_session/notes_tests.py",
        "examples/serverless.py",
    ]
    for path, text in shown:
        assert (README.parent / path).read_text() == text


@pytest.mark.anyio
async def test_the_readme_recipes_build_apps_that_start() -> None:
    import lazgi

    for name in ("app", "existing"):
        async with lazgi.lifespan(NAMESPACE[name]):
            pass
    async with NAMESPACE["main_with_admin"]() as root:
        assert root.routes[0].path == "/admin"
    request_started = NAMESPACE["started_by_requests"]
    transport = httpx.ASGITransport(app=request_started)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/")).status_code == 200
    await request_started.aclose()
    assert inspect.iscoroutinefunction(NAMESPACE["serve"])
