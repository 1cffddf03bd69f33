"""Call one subject's per-request path N times; run under callgrind to count instructions.

python -m benchmarks.calls lazgi 10000
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import nullcontext
from typing import Any

from . import trivial
from .lifespans import started


async def main(name: str, count: int) -> None:
    app = trivial.PER_REQUEST[name]()
    scope: dict[str, Any] = {"type": "http", "state": {}}
    receive, send = trivial.nothing_received, trivial.nothing_sent
    async with started(app) if name in trivial.WITH_LIFESPAN else nullcontext():
        for _ in range(count):
            await app(scope, receive, send)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
