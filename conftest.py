"""Every async test, in tests/ and in examples/, runs on asyncio and on trio; hypothesis runs
a quick profile by default and `HYPOTHESIS_PROFILE=deep` (make test-deep) a thorough one."""

import os

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


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
