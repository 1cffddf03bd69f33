"""LazyApp wrapping each framework people use, driven in-process by lazgi.lifespan() and
httpx.ASGITransport. For each one: the factory's resource opens before the framework's startup
hooks, requests see it, and the framework's shutdown hooks run before the resource closes."""

from __future__ import annotations

import sys
import types
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any

import django
import falcon
import falcon.asgi
import httpx
import pytest
from blacksheep import Application, Response, Router, text
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse
from django.urls import clear_url_caches, path
from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse as FastAPIText
from litestar import Litestar, get
from quart import Quart
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import lazgi
from lazgi import LazyApp

from ..fakes import Resource

Build = Callable[[Resource, list[str]], Any]


def hook(db: Resource, log: list[str], name: str) -> None:
    """What a framework hook records: whether the factory's resource is open right then."""
    log.append(f"{name} sees db {'open' if db.entered and not db.exit_calls else 'closed'}")


def starlette_app(db: Resource, log: list[str]) -> Any:

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[dict[str, Any]]:
        hook(db, log, "startup")
        yield {"db": db}
        hook(db, log, "shutdown")

    async def home(request: Request) -> PlainTextResponse:
        assert request.state.db is db  # the lifespan state reaches requests too
        hook(db, log, "request")
        return PlainTextResponse(db.name)

    return Starlette(routes=[Route("/", home)], lifespan=lifespan)


def fastapi_app(db: Resource, log: list[str]) -> Any:

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[dict[str, Any]]:
        hook(db, log, "startup")
        yield {"db": db}
        hook(db, log, "shutdown")

    def get_db() -> Resource:  # a dependency that reads the factory's resource
        return db

    app = FastAPI(lifespan=lifespan)

    @app.get("/", response_class=FastAPIText)
    async def home(resource: Resource = Depends(get_db)) -> str:  # noqa: B008
        hook(resource, log, "request")
        return resource.name

    return app


def litestar_app(db: Resource, log: list[str]) -> Any:

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None]:
        hook(db, log, "lifespan enter")
        yield
        hook(db, log, "lifespan exit")

    @get("/", media_type="text/plain", sync_to_thread=False)
    def home() -> str:
        hook(db, log, "request")
        return db.name

    return Litestar(
        route_handlers=[home],
        on_startup=[lambda: hook(db, log, "startup")],
        on_shutdown=[lambda: hook(db, log, "shutdown")],
        lifespan=[lifespan],
    )


def quart_app(db: Resource, log: list[str]) -> Any:

    app = Quart(__name__)

    @app.before_serving
    async def startup() -> None:
        hook(db, log, "startup")

    @app.after_serving
    async def shutdown() -> None:
        hook(db, log, "shutdown")

    @app.get("/")
    async def home() -> str:
        hook(db, log, "request")
        return db.name

    return app


def django_app(db: Resource, log: list[str]) -> Any:

    async def home(request: HttpRequest) -> HttpResponse:
        hook(db, log, "request")
        return HttpResponse(db.name.encode(), content_type="text/plain")

    urls = types.ModuleType("lazgi_test_django_urls")
    urls.urlpatterns = [path("", home)]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    if not settings.configured:
        settings.configure(ROOT_URLCONF=urls.__name__, ALLOWED_HOSTS=["test"], DEBUG=False)
        django.setup(set_prefix=False)
    clear_url_caches()
    return ASGIHandler()  # no lifespan support: it raises on a lifespan scope


def falcon_app(db: Resource, log: list[str]) -> Any:

    class Lifecycle:
        async def process_startup(self, scope: Any, event: Any) -> None:
            hook(db, log, "startup")

        async def process_shutdown(self, scope: Any, event: Any) -> None:
            hook(db, log, "shutdown")

    class Home:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            hook(db, log, "request")
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = db.name

    app = falcon.asgi.App(middleware=[Lifecycle()])
    app.add_route("/", Home())
    return app


def blacksheep_app(db: Resource, log: list[str]) -> Any:

    # Its own Router: Application() otherwise shares a process-wide default router, and an app
    # rebuilt by a restarted lifespan would keep serving the first app's routes.
    app = Application(router=Router())

    async def on_start(application: Application) -> None:
        hook(db, log, "startup")

    async def on_stop(application: Application) -> None:
        hook(db, log, "shutdown")

    app.on_start += on_start
    app.on_stop += on_stop

    async def home() -> Response:
        hook(db, log, "request")
        return text(db.name)

    app.router.add_get("/", home)
    return app


STARTED = ["db open", "startup sees db open"]
STOPPED = ["shutdown sees db open", "db close"]
REQUEST = ["request sees db open"]
FRAMEWORKS: dict[str, tuple[Build, list[str], bool]] = {
    # name: (builder, the log a lifespan and one request leave, runs on trio)
    "starlette": (starlette_app, STARTED + REQUEST + STOPPED, True),
    "fastapi": (fastapi_app, STARTED + REQUEST + STOPPED, True),
    "litestar": (
        litestar_app,
        [
            "db open",
            "lifespan enter sees db open",
            "startup sees db open",
            *REQUEST,
            "lifespan exit sees db open",
            *STOPPED,
        ],
        True,
    ),
    "quart": (quart_app, STARTED + REQUEST + STOPPED, False),
    "django": (django_app, ["db open", *REQUEST, "db close"], False),
    "falcon": (falcon_app, STARTED + REQUEST + STOPPED, True),
    "blacksheep": (blacksheep_app, STARTED + REQUEST + STOPPED, True),
}


def lazy(build: Build, log: list[str]) -> LazyApp[Any]:
    @asynccontextmanager
    async def main() -> AsyncGenerator[Any]:
        async with Resource("db", log) as db:
            yield build(db, log)

    return LazyApp(main)


@pytest.mark.anyio
@pytest.mark.parametrize("name", FRAMEWORKS)
# On trio, httpx's in-process transport leaves the body iterator of a request whose body the
# app never reads (Falcon's GET) to the garbage collector; that is httpx's, not lazgi's.
@pytest.mark.filterwarnings("ignore:Async generator 'httpx._content.ByteStream.__aiter__'")
async def test_the_resource_outlives_the_frameworks_own_lifespan(
    name: str, anyio_backend: str
) -> None:
    build, expected, runs_on_trio = FRAMEWORKS[name]
    if anyio_backend == "trio" and not runs_on_trio:
        pytest.skip(f"{name} runs on asyncio only: it calls asyncio directly")
    log: list[str] = []
    app = lazy(build, log)
    for _ in range(2):  # the second lifespan builds a fresh app on a fresh resource
        log.clear()
        async with lazgi.lifespan(app) as started:
            transport = httpx.ASGITransport(app=started)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                response = await client.get("/")
        assert (response.status_code, response.text) == (200, "db")
        assert log == expected
