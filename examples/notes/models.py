"""The notes table, and what the API takes and gives. Its schema changes go through the
migrations in examples/migrations (the models and the migrations agree: `alembic check`)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, field_validator
from sqlalchemy import DateTime, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def now() -> datetime:
    return datetime.now(UTC)


class NoteRow(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=now, server_default=func.now()
    )


class NoteIn(BaseModel):
    text: str


class Note(BaseModel):
    id: int
    text: str
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def in_utc(cls, value: datetime) -> datetime:
        """SQLite keeps no time zone; its times are UTC, as the service and the migration wrote
        them."""
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class Stats(BaseModel):
    notes_indexed: int = 0
    words_indexed: int = 0
