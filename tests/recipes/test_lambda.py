"""AWS Lambda through Mangum (README recipe 8, examples/serverless.py), in-process, with API
Gateway HTTP API (v2) events and the notes service's real composition root on SQLite.

Mangum drives an asyncio loop of its own, one per container, and runs it only while an
invocation runs; these tests are synchronous and give it a fresh loop each, as a container has.
"""

from __future__ import annotations

import asyncio
import json
import runpy
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from mangum import Mangum
from mangum.exceptions import LifespanFailure
from mangum.types import LambdaContext

from examples.main import main
from lazgi import LazyApp

RECIPE = Path(__file__).parents[2] / "examples" / "serverless.py"
Handler = Any  # Mangum's handler: (event, context) -> response dict


def invocation(method: str, path: str, body: object = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as Lambda hands it to the handler."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "content-type": "application/json",
            "user-agent": "pytest",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": "request-id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Dec/2026:12:00:00 +0000",
            "timeEpoch": 1796212800000,
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


@dataclass
class Context:
    """What Lambda passes a handler beside the event."""

    function_name: str = "notes"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:notes"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "request-id"
    log_group_name: str = "/aws/lambda/notes"
    log_stream_name: str = "2026/12/02/[$LATEST]0123456789abcdef"
    identity: None = None
    client_context: None = None

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


CONTEXT = cast(LambdaContext, Context())  # the protocol's attributes; mypy wants its optionals


@pytest.fixture
def container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Generator[asyncio.AbstractEventLoop]:
    """A fresh Lambda container: its own event loop and its own SQLite database."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def unreachable_database(
    container: asyncio.AbstractEventLoop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The container's DATABASE_URL, replaced by one in a directory that does not exist yet,
    where SQLite cannot create its file: the factory fails, as when the database is down, at
    once (an invocation must not wait out the first connection's retries). Create the
    directory to mend it."""
    missing = tmp_path / "not yet"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{missing / 'notes.db'}")
    monkeypatch.setenv("DB_CONNECT_RETRY_SECONDS", "0")
    return missing


def engines(capfd: pytest.CaptureFixture[str]) -> tuple[int, int]:
    """How many engines the notes service opened and disposed of since the last call."""
    err = capfd.readouterr().err
    return err.count("opened engine"), err.count("disposed engine")


def test_the_recipe_enters_the_factory_once_for_fifty_invocations(
    container: asyncio.AbstractEventLoop, capfd: pytest.CaptureFixture[str]
) -> None:
    handler: Handler = runpy.run_path(str(RECIPE))["handler"]
    lazy: LazyApp[Any] = handler.app
    answered_by: set[int] = set()
    for number in range(25):
        added = handler(invocation("POST", "/notes", {"text": f"note {number}"}), CONTEXT)
        assert added["statusCode"] == 201, added
        answered_by.add(id(lazy.app))
        listed = handler(invocation("GET", "/notes"), CONTEXT)
        assert listed["statusCode"] == 200, listed
        assert len(json.loads(listed["body"])) == number + 1
        answered_by.add(id(lazy.app))
    assert len(answered_by) == 1  # one inner app answered all 50
    assert engines(capfd) == (1, 0)
    # Lambda never tears down; a test does, as a container's end would.
    container.run_until_complete(lazy.aclose())
    assert engines(capfd) == (0, 1)


@pytest.mark.parametrize("first_request", [False, True])
def test_mangums_default_lifespan_auto_enters_the_factory_on_every_invocation(
    container: asyncio.AbstractEventLoop, capfd: pytest.CaptureFixture[str], first_request: bool
) -> None:
    handler = Mangum(LazyApp(main, start_on_first_request=first_request))  # lifespan="auto"
    for _ in range(10):
        assert handler(invocation("GET", "/notes"), CONTEXT)["statusCode"] == 200
    assert engines(capfd) == (10, 10)


def test_a_failed_start_is_a_500_and_the_next_invocation_tries_again(
    container: asyncio.AbstractEventLoop,
    unreachable_database: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler: Handler = runpy.run_path(str(RECIPE))["handler"]
    failed = handler(invocation("GET", "/notes"), CONTEXT)
    assert (failed["statusCode"], failed["body"]) == (500, "Internal Server Error")
    assert "LazyApp(main) failed to start: ConnectionError: the database" in caplog.text
    assert "(OperationalError: (sqlite3.OperationalError) unable to open" in caplog.text
    unreachable_database.mkdir()
    assert handler(invocation("GET", "/notes"), CONTEXT)["statusCode"] == 200
    container.run_until_complete(handler.app.aclose())


@pytest.mark.usefixtures("unreachable_database")
def test_with_lifespan_auto_a_failed_start_raises_out_of_the_handler() -> None:
    handler = Mangum(LazyApp(main))  # API Gateway answers an invocation that raised with 502
    with pytest.raises(LifespanFailure, match="unable to open database file"):
        handler(invocation("GET", "/notes"), CONTEXT)
