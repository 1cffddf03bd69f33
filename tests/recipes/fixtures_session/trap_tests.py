"""The two traps of README recipe 6, each run in a session of its own after session_tests.py:
the guard, `runs_on_its_backend`, has to catch them."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest

import lazgi
from lazgi import LazyApp
from tests.test_readme import NAMESPACE

from .session_tests import record

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_labelled_asyncio(anyio_backend: str) -> None:
    """Parametrizes anyio_backend itself; runs while session_app holds trio's loop."""
    await record("labelled asyncio", anyio_backend)


@pytest.fixture(scope="session")
async def unbound_app() -> AsyncGenerator[Any]:
    """A session-scoped async fixture that does not name anyio_backend."""
    async with lazgi.lifespan(LazyApp(NAMESPACE["main"])) as started:
        yield started


async def test_on_an_unbound_session_fixture(unbound_app: Any, anyio_backend: str) -> None:
    await record("unbound", anyio_backend, unbound_app)
