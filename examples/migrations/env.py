"""Alembic's environment for the notes service: its own models, and DATABASE_URL (the same
default as the service). Run from the command line, it opens an engine of its own; run by the
composition root at startup (examples/notes/database.py), it uses the connection it is given,
inside the transaction that holds the migration lock."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from examples.notes import database
from examples.notes.models import Base

config = context.config


def run(connection: Connection) -> None:
    # Batch mode: SQLite alters a table by copying it.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_on_its_own_engine() -> None:
    engine = create_async_engine(database.url(), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


shared: Connection | None = config.attributes.get("connection")
if shared is not None:
    run(shared)
elif context.is_offline_mode():
    context.configure(url=database.url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    if config.config_file_name is not None:  # the command line's logging, never a server's
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(run_on_its_own_engine())
