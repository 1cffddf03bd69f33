"""LazyApp construction checks, its ASGI 3 signature, and its logging."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import cast

import pytest
from starlette.applications import Starlette

from lazgi import LazyApp
from lazgi._types import ASGIApp

from .conftest import serve
from .fakes import inner_app


def test_a_non_callable_factory_is_a_type_error_at_construction() -> None:
    with pytest.raises(TypeError, match=r"takes a factory.*got 42, which is not callable"):
        LazyApp(42)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]


def test_an_asgi_app_passed_as_the_factory_is_a_type_error_with_a_hint() -> None:
    with pytest.raises(TypeError, match="pass a function that builds the app") as info:
        LazyApp(Starlette())  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    assert "needs some" in str(info.value)


def test_a_factory_that_needs_arguments_is_a_type_error_naming_them() -> None:
    async def needs_db(db: object) -> ASGIApp:
        raise AssertionError  # pragma: no cover

    with pytest.raises(TypeError, match=re.escape("needs_db(db: 'object') -> 'ASGIApp'")):
        LazyApp(needs_db)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]


def test_call_is_an_async_def_with_the_asgi_parameter_names() -> None:
    # Servers tell ASGI 3 from ASGI 2 this way; daphne passes these names as keywords.
    app = LazyApp(lambda: inner_app([]))
    assert inspect.iscoroutinefunction(app.__call__)
    assert list(inspect.signature(app.__call__).parameters) == ["scope", "receive", "send"]


@pytest.mark.anyio
async def test_a_factory_without_a_signature_is_accepted_and_checked_at_startup() -> None:
    app = LazyApp(cast(Callable[[], object], dict))  # inspect can't read a builtin's signature
    async with serve(app) as server:
        reply = await server.startup()
    assert reply["type"] == "lifespan.startup.failed"
    assert "produced {} (dict), which is not an ASGI app" in reply["message"]


@pytest.mark.anyio
async def test_startup_and_shutdown_are_logged_at_info_with_their_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="lazgi")

    @asynccontextmanager
    async def main() -> AsyncGenerator[ASGIApp]:
        yield inner_app([])

    async with serve(LazyApp(main)) as server:
        await server.startup()
        await server.shutdown()
    messages = [(r.name, r.levelname, r.getMessage()) for r in caplog.records if r.name == "lazgi"]
    assert [m[:2] for m in messages] == [("lazgi", "INFO"), ("lazgi", "INFO")]
    assert re.fullmatch(r"LazyApp\(.*main\) started in \d+\.\d ms", messages[0][2])
    assert re.fullmatch(r"LazyApp\(.*main\) shut down in \d+\.\d ms", messages[1][2])


@pytest.mark.anyio
async def test_failures_are_logged_at_error_with_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def factory() -> ASGIApp:
        raise ConnectionRefusedError("db:5432")

    async with serve(LazyApp(factory)) as server:
        await server.startup()
    (record,) = [r for r in caplog.records if r.name == "lazgi" and r.levelno >= logging.WARNING]
    assert record.levelname == "ERROR"
    assert "failed to start: ConnectionRefusedError: db:5432" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ConnectionRefusedError
