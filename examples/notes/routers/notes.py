"""POST /notes, GET /notes, POST /notes/import."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from ..dependencies import HttpClient, Indexer, Session
from ..models import Note, NoteIn, NoteRow

router = APIRouter(prefix="/notes")


@router.post("", status_code=201)
async def add_note(note: NoteIn, session: Session, indexer: Indexer) -> Note:
    row = NoteRow(text=note.text)
    session.add(row)
    await session.commit()
    added = Note(id=row.id, text=row.text, created_at=row.created_at)
    await indexer.send(added)
    return added


@router.get("")
async def list_notes(session: Session) -> list[Note]:
    columns = NoteRow.id, NoteRow.text, NoteRow.created_at
    rows = await session.execute(select(*columns).order_by(NoteRow.id))
    return [Note(id=id, text=text, created_at=created_at) for id, text, created_at in rows]


@router.post("/import", status_code=201)
async def import_note(url: str, http: HttpClient, session: Session, indexer: Indexer) -> Note:
    """Store the text found at `url` as a note."""
    try:
        response = await http.get(url)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise HTTPException(502, f"could not fetch {url}: {exc}") from None
    return await add_note(NoteIn(text=response.text), session, indexer)
