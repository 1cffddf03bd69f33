"""Soak: 10,000 lifespan restarts of one LazyApp in one process leave memory and file
descriptors where they were."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import pytest

from lazgi import LazyApp
from lazgi._types import ASGIApp

from .conftest import serve
from .fakes import Resource, inner_app

pytestmark = pytest.mark.anyio


def rss_kib() -> int:
    """The resident set now (the peak would remember earlier tests)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_ten_thousand_restarts_keep_memory_and_descriptors_flat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="lazgi")  # pytest would keep 20,000 INFO records
    log: list[str] = []

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        async with Resource("db", log):
            yield inner_app(log)

    app = LazyApp(main)

    async def restarts(count: int) -> None:
        for _ in range(count):
            async with serve(app) as server:
                await server.startup()
                await server.shutdown()
            log.clear()

    await restarts(1_000)  # warm up: caches, lazily built objects, the allocator's pools
    gc.collect()
    rss, fds = rss_kib(), open_fds()
    await restarts(9_000)
    gc.collect()
    assert rss_kib() - rss <= 1024  # 1 MiB
    assert open_fds() == fds
