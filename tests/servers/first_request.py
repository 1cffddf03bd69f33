"""examples.workers' composition root, started by its first request: for servers that never
run the lifespan."""

from __future__ import annotations

from examples.workers import main
from lazgi import LazyApp

app = LazyApp(main, start_on_first_request=True)
