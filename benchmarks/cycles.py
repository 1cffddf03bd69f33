"""Start and stop one cycle subject N times; run under callgrind to count instructions.

python -m benchmarks.cycles "LazyApp around Starlette" 600
"""

from __future__ import annotations

import asyncio
import sys

from . import subjects
from .lifespans import cycle


async def main(name: str, count: int) -> None:
    app = subjects.CYCLE[name]()
    for _ in range(count):
        await cycle(app)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
