"""What servers see of LazyApp: an ASGI 3 app by their own detection, and, on a request, one
frame of LazyApp's between the server and the inner app: its `__call__`, which counts the
request while it runs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import FrameType

import pytest
import uvicorn
from asgiref import compatibility
from hypercorn.utils import is_asgi

from lazgi import LazyApp, NotStartedError
from lazgi._types import Receive, Scope, Send

from .conftest import serve
from .fakes import http_scope, inner_app, no_receive, no_send


def test_servers_detect_an_asgi3_app() -> None:
    # Each asks whether app.__call__ is a coroutine function; a wrong answer makes uvicorn
    # call it as ASGI 2, hypercorn as WSGI, and daphne (asgiref) as a double callable.
    app = LazyApp(lambda: inner_app([]))
    config = uvicorn.Config(app, log_config=None)
    config.load()
    assert config.interface == "asgi3"
    assert is_asgi(app)  # hypercorn's test: otherwise it serves the app as WSGI
    assert is_double_callable(app) is False
    assert inspect.iscoroutinefunction(app.__call__)


@pytest.mark.anyio
async def test_a_request_reaches_the_inner_app_through_one_frame_of_lazgi() -> None:
    callers: list[str] = []

    async def on_request(scope: Scope, receive: Receive, send: Send) -> None:
        here = inspect.currentframe()
        assert here is not None
        frame = here.f_back  # the inner app's frame, which awaits this hook
        assert frame is not None
        frame = frame.f_back
        while frame is not None and _code_name(frame) != "the_server":
            callers.append(f"{frame.f_globals['__name__']}.{_code_name(frame)}")
            frame = frame.f_back
        callers.append(_code_name(frame))

    async def the_server(scope: Scope) -> None:
        await app(scope, no_receive, no_send)

    app = LazyApp(lambda: inner_app([], on_request=on_request))
    async with serve(app) as server:
        await server.startup()
        await the_server(http_scope())
        await server.shutdown()
    assert callers == ["lazgi._app.__call__", "the_server"]


@pytest.mark.anyio
async def test_calling_dunder_call_by_name_does_what_calling_the_app_does() -> None:
    log: list[str] = []
    app = LazyApp(lambda: inner_app(log))
    with pytest.raises(NotStartedError, match="has not started"):
        await app.__call__(http_scope(), no_receive, no_send)
    async with serve(app) as server:
        await server.startup()
        await app.__call__(http_scope(), no_receive, no_send)
        await server.shutdown()
    assert log == ["inner startup", "inner http", "inner shutdown"]


# asgiref leaves it untyped.
is_double_callable: Callable[[object], bool] = compatibility.is_double_callable  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


def _code_name(frame: FrameType | None) -> str:
    return "<none>" if frame is None else frame.f_code.co_name
