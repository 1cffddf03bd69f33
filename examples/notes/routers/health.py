"""GET /health: whether this worker reaches its database (200, or 503 while it does not), for
a load balancer's readiness check."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from ..dependencies import Engine

router = APIRouter()


@router.get("/health")
async def health(engine: Engine) -> dict[str, str]:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return {"database": "reachable"}
