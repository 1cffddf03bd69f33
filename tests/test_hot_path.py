"""A regression gate on LazyApp's request path, measured in this run against a minimal
pass-through, in exact instruction counts under callgrind (make test installs valgrind; timings
would be noise, the more so under coverage).

The target (make bench, BENCHMARKS.md): LazyApp costs no more per request than the minimal
hand-written pass-through. It checks the scope type, so that a second lifespan is refused while
running, and then hands the server the inner app's own coroutine instead of awaiting it in one
of its own, which is what a pass-through pays for.
"""

from __future__ import annotations

import shutil

import pytest

from benchmarks.bench import instructions_per_request


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_lazy_app_costs_no_more_instructions_per_request_than_a_pass_through() -> None:
    lazy, passing = instructions_per_request("lazgi"), instructions_per_request("pass-through")
    assert lazy <= passing, (lazy, passing)
