"""Every async test, in tests/ and in examples/, runs on asyncio and on trio, and on Python 3.12+
also on asyncio with its eager task factory; hypothesis runs a quick profile by default and
`HYPOTHESIS_PROFILE=deep` (make test-deep) a thorough one. The header names the lazgi the suite
imports, and `make test` (LAZGI_INSTALLED) makes sure it is the installed wheel."""

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

quick = {
    "deadline": None,
    "stateful_step_count": 12,
    "suppress_health_check": [HealthCheck.too_slow],
}
settings.register_profile("default", max_examples=30, **quick)
settings.register_profile("deep", max_examples=2000, **quick)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


BACKENDS: list[Any] = ["asyncio", "trio"]
if sys.version_info >= (3, 12):

    def eager_loop() -> asyncio.AbstractEventLoop:
        """A loop whose `create_task(coro)` runs `coro` up to its first suspension before it
        returns, as servers and apps that switch this speed-up on have it."""
        loop = asyncio.new_event_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        return loop

    BACKENDS.append(pytest.param(("asyncio", {"loop_factory": eager_loop}), id="asyncio-eager"))


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


def pytest_report_header(config: pytest.Config) -> str:
    import lazgi

    return f"lazgi {lazgi.__version__} from {Path(lazgi.__file__).parent}"


def pytest_configure(config: pytest.Config) -> None:
    """With LAZGI_INSTALLED set (make test), the suite must run against the installed wheel."""
    import lazgi

    source = Path(lazgi.__file__).resolve()
    if os.environ.get("LAZGI_INSTALLED") and source.is_relative_to(config.rootpath.resolve()):
        raise pytest.UsageError(f"lazgi was imported from {source}, not from the installed wheel")
