"""The notes table, and what the API takes and gives."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class NoteRow(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)


class NoteIn(BaseModel):
    text: str


class Note(BaseModel):
    id: int
    text: str


class Stats(BaseModel):
    notes_indexed: int = 0
    words_indexed: int = 0
