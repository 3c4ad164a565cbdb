"""DirectRoutes: a planned route's requests answered past FastAPI's router, for exactly
the routes the router would take, with the same answers and errors. (That each planned
answer equals FastAPI's, valid or not, is tests/unit/test_routing.py's: its every case
runs through DirectRoutes too.)"""

# No `from __future__ import annotations`: the routes below are declared inside
# functions, and FastAPI must see their annotations evaluated.
import asyncio
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from pydantic import AfterValidator, BaseModel
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount

from passkey_api import errors
from passkey_api.app import create_app
from passkey_api.config import Settings
from passkey_api.web import problems
from passkey_api.web.fast.dispatch import DirectRoutes
from passkey_api.web.fast.routing import LeanRoute


class Item(BaseModel):
    name: str


def _app(*, direct: bool = True) -> FastAPI:
    router = APIRouter(route_class=LeanRoute)

    @router.get("/where")
    async def where(request: Request) -> Response:
        # What only FastAPI's router path leaves in the scope, and what both set.
        scope = request.scope
        way = "router" if "fastapi_middleware_astack" in scope else "direct"
        named = (scope["route"].path, scope["endpoint"].__name__, scope["path_params"])
        return Response(f"{way} {named} {scope['router'] is app.router}")

    @router.post("/items")
    async def create(item: Item) -> Response:
        if item.name == "http":
            raise HTTPException(409, "taken", headers={"X-Why": "taken"})
        if item.name == "api":
            raise errors.NotAuthenticated()
        if item.name == "bug":
            raise RuntimeError("unhandled")
        return Response(item.name)

    app = FastAPI()
    problems.install(app)
    app.router.routes.extend(router.routes)
    if direct:
        app.add_middleware(DirectRoutes, router=app.router)
    return app


def _direct_routes(app: FastAPI) -> DirectRoutes:
    layer: Any = app.build_middleware_stack()
    while not isinstance(layer, DirectRoutes):
        layer = layer.app
    return layer


async def _get(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, root_path=kwargs.pop("root_path", ""))
    # A declined request whose body were not handed on would wait for it for ever.
    async with (
        asyncio.timeout(10),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        return await client.request(method, path, **kwargs)


def test_the_lanes_are_the_planned_routes() -> None:
    lanes = _direct_routes(create_app(Settings(fast_paths=True))).lanes
    assert set(lanes) == {
        ("GET", "/v1/session"),
        ("POST", "/v1/authentication/options"),
        ("POST", "/v1/authentication/verify"),
        ("POST", "/v1/registration/options"),
        ("POST", "/v1/registration/verify"),
        # Not hot, but as simple: the same answers by the same shorter way.
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/.well-known/assetlinks.json"),
        ("GET", "/.well-known/apple-app-site-association"),
        ("GET", "/.well-known/webauthn"),
        ("GET", "/"),  # the demo page
        ("HEAD", "/"),
    }


async def test_a_lane_skips_fastapis_router_and_names_the_route_alike() -> None:
    named = "('/where', 'where', {}) True"
    assert (await _get(_app(), "GET", "/where")).text == f"direct {named}"
    assert (await _get(_app(direct=False), "GET", "/where")).text == f"router {named}"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/items", {"name": "ok"}),
        ("POST", "/items", {"name": "http"}),  # HTTPException, with its headers
        ("POST", "/items", {"name": "api"}),  # our own problem, by its handler
        ("POST", "/items", {"nom": "x"}),  # declined by the plan: FastAPI's 422
        ("GET", "/items", None),  # no lane: 405 from the router
        ("POST", "/items/", {"name": "ok"}),  # no lane: the router's redirect
        ("HEAD", "/where", None),
    ],
)
async def test_answers_as_the_router_does(method: str, path: str, body: Any) -> None:
    replies = [
        await _get(_app(direct=direct), method, path, json=body, follow_redirects=False)
        for direct in (True, False)
    ]
    direct, routed = ((r.status_code, r.headers.multi_items(), r.content) for r in replies)
    assert direct == routed


async def test_under_a_root_path_too() -> None:
    for direct in (True, False):
        reply = await _get(
            _app(direct=direct), "POST", "/api/items", json={"name": "n"}, root_path="/api"
        )
        assert (reply.status_code, reply.text) == (200, "n")
    reply = await _get(_app(), "GET", "/api/where", root_path="/api")
    assert reply.text.startswith("direct ('/where'")


async def test_an_unhandled_error_leaves_as_it_does_through_the_router() -> None:
    for direct in (True, False):
        with pytest.raises(RuntimeError, match="unhandled"):
            await _get(_app(direct=direct), "POST", "/items", json={"name": "bug"})


def test_only_routes_the_router_would_take_get_a_lane() -> None:
    router = APIRouter(route_class=LeanRoute)

    @router.post("/shadowed")
    async def first(item: Item) -> dict[str, str]:  # not planned (returns a model)
        return {"name": item.name}

    @router.post("/shadowed")
    async def second(item: Item) -> Response:  # planned, but never reached
        return Response(item.name)

    @router.post("/things/{name}")
    async def with_a_parameter(name: str) -> Response:
        return Response(name)

    @router.post("/capped", max_body_size=10)
    async def capped(item: Item) -> Response:
        return Response(item.name)

    @router.get("/either")
    async def either() -> Response:
        return Response("get")

    app = FastAPI()
    app.router.routes.extend(router.routes)
    app.add_middleware(DirectRoutes, router=app.router)
    planned = {
        (method, r.path)
        for r in app.router.routes
        if isinstance(r, LeanRoute) and r.planned
        for method in r.methods or ()
    }
    assert ("POST", "/shadowed") in planned  # the second route: planned, yet shadowed
    assert set(_direct_routes(app).lanes) == {("GET", "/either")}


def test_no_lanes_where_routing_is_more_than_path_and_method() -> None:
    app = _app()
    app.router.routes.append(Mount("/static", app=Response("static")))
    assert _direct_routes(app).lanes == {}


async def test_no_lanes_unless_innermost_but_requests_still_pass() -> None:
    app = _app(direct=False)
    app.add_middleware(DirectRoutes, router=app.router)
    app.add_middleware(CORSMiddleware, allow_origins=["http://t"])
    assert _direct_routes(app).lanes  # innermost: added first
    app = _app(direct=False)
    app.add_middleware(CORSMiddleware, allow_origins=["http://t"])
    app.add_middleware(DirectRoutes, router=app.router)
    assert _direct_routes(app).lanes == {}
    assert (await _get(app, "GET", "/where")).text.startswith("router ")


# --- what a review found DirectRoutes doing otherwise than the router (each failed before)


class Gone(Exception):
    pass


def _translating_app(*, direct: bool) -> FastAPI:
    """An exception handler that itself raises: the outer wrapper's to handle."""
    router = APIRouter(route_class=LeanRoute)

    @router.get("/gone")
    async def gone() -> Response:
        raise Gone()

    async def on_gone(request: Request, exc: Exception) -> Response:
        raise HTTPException(410, "gone")

    app = FastAPI()
    app.add_exception_handler(Gone, on_gone)
    app.router.routes.extend(router.routes)
    if direct:
        app.add_middleware(DirectRoutes, router=app.router)
    return app


async def test_an_exception_handler_that_raises_meets_the_outer_handlers() -> None:
    for direct in (True, False):
        reply = await _get(_translating_app(direct=direct), "GET", "/gone")
        assert (reply.status_code, reply.json()) == (410, {"detail": "gone"})


async def test_a_declined_request_is_looked_at_by_the_plan_once() -> None:
    seen: list[str] = []

    def noted(value: str) -> str:
        seen.append(value)
        raise ValueError("refused")

    class Refused(BaseModel):
        name: Annotated[str, AfterValidator(noted)]

    def app_of(direct: bool) -> FastAPI:
        router = APIRouter(route_class=LeanRoute)

        @router.post("/refused")
        async def refused(body: Refused) -> Response:
            return Response(body.name)

        app = FastAPI()
        app.router.routes.extend(router.routes)
        if direct:
            app.add_middleware(DirectRoutes, router=app.router)
        return app

    counts = []
    for direct in (True, False):
        seen.clear()
        reply = await _get(app_of(direct), "POST", "/refused", json={"name": "n"})
        assert reply.status_code == 422
        counts.append(len(seen))
    assert counts == [2, 2]  # the plan's validation, then FastAPI's handler's


async def test_no_lanes_past_a_routers_own_body_limit() -> None:
    app = _app(direct=False)
    app.router.middleware_stack = RequestBodyLimitMiddleware(app.router.app, max_body_size=8)
    app.add_middleware(DirectRoutes, router=app.router)
    assert _direct_routes(app).lanes == {}
    reply = await _get(app, "POST", "/items", json={"name": "far too long"})
    assert reply.status_code == 413
