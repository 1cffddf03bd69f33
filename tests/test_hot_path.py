"""A regression gate on LazyApp's request path, measured in this run against the minimal
correct code for its job, in exact instruction counts under callgrind (make test installs
valgrind; timings would be noise, the more so under coverage).

The target (make bench, BENCHMARKS.md): LazyApp costs no more per request than a hand-written
`async def __call__` that checks the scope type, so that a second lifespan is refused while
running, takes the current lifespan's counter, counts the request up, awaits the inner app,
counts it down and wakes a waiting teardown when none is left (`benchmarks.trivial.Counting`).
"""

from __future__ import annotations

import shutil

import pytest

from benchmarks.bench import instructions_per_request


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_lazy_app_costs_no_more_instructions_per_request_than_the_counting_wrapper() -> None:
    lazy, counting = instructions_per_request("lazgi"), instructions_per_request("counting")
    assert lazy <= counting, (lazy, counting)
