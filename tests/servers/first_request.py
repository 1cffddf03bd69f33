"""The per-worker probe's composition root, started by its first request: for servers that never
run the lifespan."""

from __future__ import annotations

from lazgi import LazyApp

from .probe import main

app = LazyApp(main, start_on_first_request=True)
