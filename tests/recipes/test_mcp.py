"""An MCP server mounted beside the REST routes (README recipe 5): its streamable-HTTP app's
session manager runs because the composition root starts it with `lazgi.lifespan()`. Checked
with the MCP SDK's own client over httpx2's ASGI transport, on asyncio and trio."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.routing import Mount

import lazgi
from lazgi import LazyApp

from ..conftest import BOUND
from ..test_readme import NAMESPACE

pytestmark = [
    pytest.mark.anyio,
    # On trio the SDK client's SSE reader leaves httpx2's response generators to the garbage
    # collector, which trio reports; that is the client's, and unrelated to the server side.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <async_generator object (Response|EventSource)"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]

# The SDK's DNS-rebinding check answers 421 to a Host it does not know: localhost, with a port.
BASE = "http://localhost:8000"


async def call_add(app: object) -> tuple[list[str], object]:
    """Initialize a session through the mounted path, list the tools, call `add`."""
    transport = httpx2.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        httpx2.AsyncClient(transport=transport, base_url=BASE) as http,
        streamable_http_client(f"{BASE}/mcp/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.list_tools()
        result = await session.call_tool("add", {"a": 2, "b": 3})
        rest = await http.get("/")
        assert rest.status_code == 200  # the REST routes beside it
    return [tool.name for tool in listed.tools], result.structured_content


async def test_the_mounted_mcp_server_answers_through_two_lifespans_of_one_app() -> None:
    app: LazyApp[Starlette] = NAMESPACE["with_mcp"]
    for _ in range(2):  # the session manager runs once per instance: built inside the factory
        with anyio.fail_after(BOUND):
            async with lazgi.lifespan(app) as started:
                assert await call_add(started) == (["add"], {"result": 5})


async def test_without_its_lifespan_the_mounted_mcp_app_fails_its_first_call() -> None:
    tools = NAMESPACE["create_tools"]().streamable_http_app()
    app = Starlette(routes=[Mount("/mcp", app=tools)])  # Mount never forwards the lifespan
    with anyio.fail_after(BOUND), pytest.raises(BaseException) as caught:  # noqa: PT011 (a group)
        async with lazgi.lifespan(app) as started:
            await call_add(started)
    assert "Task group is not initialized" in repr(caught.value)
