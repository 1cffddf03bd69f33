"""Starting a mounted sub-app's lifespan from the factory.

    uvicorn examples.mounted:app --host 127.0.0.1

Starlette's Mount never forwards the lifespan to the app it mounts, so a sub-app's own startup
and shutdown would never run. `lazgi.lifespan(sub_app)` inside the factory runs them, nested
within the factory's resources, and yields the started sub-app to mount.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import lazgi
from lazgi import LazyApp

logger = logging.getLogger(__name__)


class Jobs:
    """A resource the admin app's own lifespan prepares: here, a list of pending jobs."""

    def __init__(self) -> None:
        self.pending: list[str] = []


def create_admin(jobs: Jobs) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None]:
        jobs.pending.append("reindex")  # what the admin app does at its startup
        logger.info("admin app started")
        yield
        logger.info("admin app stopped")

    async def pending(request: Request) -> JSONResponse:
        return JSONResponse(jobs.pending)

    return Starlette(routes=[Route("/jobs", pending)], lifespan=lifespan)


@asynccontextmanager
async def main() -> AsyncGenerator[Starlette]:
    async with lazgi.lifespan(create_admin(Jobs())) as admin:
        yield Starlette(routes=[Mount("/admin", app=admin)])


app = LazyApp(main)
