"""A regression gate on LazyApp's request path, measured in this run against a minimal
pass-through, in exact instruction counts under callgrind (make test installs valgrind; timings
would be noise, the more so under coverage).

The path is the pass-through's plus one comparison (the scope type, so that a second lifespan
is refused while running). The gate allows that and nothing more: 300 instructions, about a
dozen bytecodes; the comparison measures about 240 (BENCHMARKS.md).
"""

from __future__ import annotations

import shutil

import pytest

from benchmarks.bench import instructions_per_request

EXTRA_INSTRUCTIONS = 300


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_lazy_app_adds_one_check_to_a_pass_through_in_instructions() -> None:
    lazy, passing = instructions_per_request("lazgi"), instructions_per_request("pass-through")
    assert lazy - passing <= EXTRA_INSTRUCTIONS, (lazy, passing)
