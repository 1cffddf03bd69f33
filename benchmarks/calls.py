"""Call one subject's per-request path N times; run under callgrind to count instructions.

python -m benchmarks.calls lazgi 10000
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import nullcontext
from typing import Any

from lazgi import LazyApp

from . import subjects
from .lifespans import started


async def main(name: str, count: int) -> None:
    app: Any
    lazy = name in ("lazgi", "lazgi-0.1.0")  # only these have a lifespan to start
    if name == "bare":
        app = subjects.bare
    elif name == "pass-through":
        app = subjects.PassThrough(subjects.bare)
    elif name == "lazgi":
        app = LazyApp(subjects.trivial_factory)
    else:  # lazgi-0.1.0
        app = subjects.old_lazy_app()(subjects.trivial_factory)
    scope: dict[str, Any] = {"type": "http", "state": {}}
    receive, send = subjects.nothing_received, subjects.nothing_sent
    async with started(app) if lazy else nullcontext():
        for _ in range(count):
            await app(scope, receive, send)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
