"""The notes service's database, over time: an engine that survives a database restart, a first
connection that waits out a short outage, and the schema migrated to its newest revision at
startup, once per deployment however many workers start at once.

`DATABASE_URL` is a SQLAlchemy URL, SQLite (`notes.db`) by default. `DB_POOL_SIZE` connections
per worker (5 by default, no overflow). `DB_CONNECT_RETRY_SECONDS` (20 by default) bounds how
long a starting worker waits for the database. `MIGRATE_ON_STARTUP=0` leaves the schema to a
release step (`python -m alembic -c examples/alembic.ini upgrade head`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"
FIRST_REVISION = "0001"  # the schema create_all made before the migrations existed
SCHEMA_LOCK = 0x6E6F746573  # a PostgreSQL advisory lock key: "notes"


def url() -> str:
    return os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///notes.db")


def say(line: str) -> None:
    # One write per line, so that lines from several workers never interleave.
    os.write(sys.stderr.fileno(), f"notes {os.getpid()}: {line}\n".encode())


@asynccontextmanager
async def open_engine(address: str) -> AsyncGenerator[AsyncEngine]:
    """An engine, disposed on exit: its connections are closed, not dropped. Each pooled
    connection is checked before a request gets it (`pool_pre_ping`), so that after the
    database restarts the next requests reconnect instead of failing on a dead connection;
    while it is down they fail within seconds instead of hanging."""
    engine = create_async_engine(
        address,
        pool_size=int(os.environ.get("DB_POOL_SIZE", "5")),
        max_overflow=0,
        pool_pre_ping=True,
        pool_timeout=10,  # waiting for a free connection of the pool
        connect_args={"timeout": 5} if address.startswith("postgresql+asyncpg") else {},
    )
    if engine.dialect.name == "sqlite":
        real_transactions(engine)
    say(f"opened engine {name(engine)}")
    try:
        yield engine
    finally:
        await engine.dispose()
        say("disposed engine")


def real_transactions(engine: AsyncEngine) -> None:
    """SQLite's Python driver begins a transaction late, on its own, so that a SAVEPOINT or a
    migration's DDL runs outside one and commits at once: SQLAlchemy's documented fix leaves
    BEGIN to SQLAlchemy, so that rollbacks (a test's, say) undo everything."""

    @event.listens_for(engine.sync_engine, "connect")
    def no_driver_transactions(driver_connection: Any, record: object) -> None:
        driver_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")


def name(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)


async def reachable(engine: AsyncEngine, within: float | None = None) -> None:
    """Connect once, retrying while the database cannot be reached, for `within` seconds
    (DB_CONNECT_RETRY_SECONDS, 20 by default): a worker started during a short outage joins
    when the database returns, instead of failing its start (which takes every worker of
    `uvicorn --workers` down with it). Then fail, naming the database."""
    if within is None:
        within = float(os.environ.get("DB_CONNECT_RETRY_SECONDS", "20"))
    deadline, delay = anyio.current_time() + within, 0.25
    while True:
        try:
            async with engine.connect():
                return
        except (OSError, DBAPIError) as exc:  # refused, unreachable, still starting up
            left = deadline - anyio.current_time()
            if left <= 0:
                raise ConnectionError(
                    f"the database {name(engine)} could not be reached within {within:g} s "
                    f"({type(exc).__name__}: {exc}); check that it runs and that DATABASE_URL "
                    "names it, or raise DB_CONNECT_RETRY_SECONDS"
                ) from exc
            say(f"database {name(engine)} not reachable yet ({type(exc).__name__}); retrying")
            await anyio.sleep(min(delay, left))
            delay = min(delay * 2, 2)


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (`alembic upgrade head`). On PostgreSQL, workers
    that start at once take turns under an advisory lock, held until the migration commits,
    so each after the first finds the schema at head and runs no DDL. A database that
    create_all made before the migrations existed is stamped at the first revision first: its
    rows stay."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK}
            )
        await connection.run_sync(upgrade)


def upgrade(connection: Connection) -> None:
    config = Config(str(ALEMBIC_INI))
    config.attributes["connection"] = connection  # migrations/env.py runs on it
    tables = inspect(connection)
    if tables.has_table("notes") and not tables.has_table("alembic_version"):
        command.stamp(config, FIRST_REVISION)
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, "head")
    after = MigrationContext.configure(connection).get_current_revision()
    change = "already there" if after == before else f"migrated from {before or 'nothing'}"
    say(f"schema at {after} ({change})")
