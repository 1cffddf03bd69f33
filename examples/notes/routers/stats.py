"""GET /stats: what the background indexer counted."""

from __future__ import annotations

from fastapi import APIRouter

from ..dependencies import CurrentStats
from ..models import Stats

router = APIRouter()


@router.get("/stats")
async def get_stats(stats: CurrentStats) -> Stats:
    return stats
