"""LeanRoute answers every request exactly as FastAPI's own APIRoute does: the same
status, headers and body for valid and invalid requests alike, with the dependencies
called as often; and the routes it cannot plan keep FastAPI's handler."""

# No `from __future__ import annotations`: the routes below are declared inside a
# function, and FastAPI must see their dependencies' annotations evaluated.
import asyncio
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, MutableMapping
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from passkey_api.app import create_app
from passkey_api.config import Settings
from passkey_api.web import problems
from passkey_api.web.fast.dispatch import DirectRoutes
from passkey_api.web.fast.routing import LeanRoute


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: str = Field(max_length=8)
    count: int | None = None


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=16)
    inner: Inner
    tags: list[str] = []
    extra: dict[str, Any] = {}


def _router(route_class: type, calls: Counter[str], provider: Any = None) -> APIRouter:
    router = APIRouter(route_class=route_class, dependency_overrides_provider=provider)

    async def who(request: Request, response: Response) -> str:
        calls["who"] += 1
        if request.headers.get("x-deny"):
            raise HTTPException(403, "denied")
        response.set_cookie("seen", "1")
        return "someone"

    async def twice(caller: Annotated[str, Depends(who)]) -> str:
        return caller + "!"

    @router.post("/items", response_model=Body)
    async def create(
        body: Body,
        caller: Annotated[str, Depends(who)],
        louder: Annotated[str, Depends(twice)],
        response: Response,
        client_type: Annotated[str | None, Header(alias="X-Client-Type", max_length=6)] = None,
    ) -> Response:
        calls["endpoint"] += 1
        answer = Response(
            json.dumps([body.model_dump(), caller, louder, client_type]),
            media_type="application/json",
        )
        answer.raw_headers.extend(response.raw_headers)
        return answer

    @router.get("/me")
    async def me(caller: Annotated[str, Depends(who)]) -> Response:
        return Response(caller)

    return router


def _app(route_class: type) -> tuple[FastAPI, Counter[str]]:
    calls: Counter[str] = Counter()
    app = FastAPI()
    problems.install(app)
    app.router.routes.extend(_router(route_class, calls).routes)
    return app, calls


async def _both(
    method: str,
    path: str,
    content: bytes | None,
    headers: dict[str, str],
    app_of: Callable[[type], tuple[FastAPI, Counter[str]]] = _app,
) -> tuple[Any, Any]:
    """The answer and the dependencies' calls, from the plan and from FastAPI's handler.
    The plan's answer is taken twice, through FastAPI's router and past it
    (dispatch.DirectRoutes), and must be the same both ways."""
    answers = []
    for route_class, direct in ((LeanRoute, True), (LeanRoute, False), (_PlainRoute, False)):
        app, calls = app_of(route_class)
        if direct:
            app.add_middleware(DirectRoutes, router=app.router)
        transport = httpx.ASGITransport(app=app)
        # A handler waiting for a body already spent would wait for ever.
        async with (
            asyncio.timeout(10),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            reply = await client.request(method, path, content=content, headers=headers)
        answers.append(
            (reply.status_code, sorted(reply.headers.multi_items()), reply.content, dict(calls))
        )
    direct_answer, routed, plain = answers
    assert direct_answer == routed
    return direct_answer, plain


class _PlainRoute(LeanRoute):
    """FastAPI's own handler, for comparison."""

    def get_route_handler(self) -> Any:
        return super(LeanRoute, self).get_route_handler()


VALID = {"name": "n", "inner": {"data": "d"}}
JSON = {"content-type": "application/json"}
CASES: list[tuple[bytes | None, dict[str, str]]] = [
    (json.dumps(VALID).encode(), JSON),
    (json.dumps(VALID).encode(), {"content-type": "application/json; charset=utf-8"}),
    (json.dumps(VALID).encode(), {"content-type": "APPLICATION/JSON"}),
    (json.dumps(VALID).encode(), {"content-type": "application/vnd.api+json"}),
    (json.dumps(VALID).encode(), {"content-type": "text/plain"}),
    (json.dumps(VALID).encode(), {"content-type": "application/json, text/plain"}),
    (json.dumps(VALID).encode(), {}),
    (json.dumps(VALID).encode(), {**JSON, "x-client-type": "native"}),
    (json.dumps(VALID).encode(), {**JSON, "x-client-type": "far-too-long"}),
    (json.dumps(VALID).encode(), {**JSON, "x-deny": "1"}),
    (b"", JSON),
    (None, JSON),
    (b"{", JSON),
    (b"[]", JSON),
    (b"null", JSON),
    (b'{"name": "n"}', JSON),
    (b'{"name": "", "inner": {"data": "toolongvalue"}}', JSON),
    (b'{"name": "n", "inner": {"data": "d"}, "other": 1}', JSON),
    (b'{"name": "\\ud800", "inner": {"data": "d"}}', JSON),
    (b'\xef\xbb\xbf{"name": "n", "inner": {"data": "d"}}', JSON),
    (b'{"name": "n", "inner": {"data": "d", "count": NaN}}', JSON),
    (b'{"name": "n", "inner": {"data": "d", "count": 2.0}}', JSON),
    (b'{"name": "n", "inner": {"data": "d", "count": "3"}}', JSON),
    (b'{"name": "n", "name": "m", "inner": {"data": "d"}}', JSON),
    (b'{"name": "n", "inner": {"data": "d"}, "extra": {"x": 1e400}}', JSON),
    ('{"name": "ñ", "inner": {"data": "d"}}'.encode("utf-16"), JSON),
    (b'{"name": "\xff", "inner": {"data": "d"}}', JSON),
]


@pytest.mark.parametrize(("content", "headers"), CASES)
async def test_answers_as_fastapi_does(content: bytes | None, headers: dict[str, str]) -> None:
    lean, plain = await _both("POST", "/items", content, headers)
    assert lean == plain


async def test_the_plan_is_taken_and_calls_each_dependency_once() -> None:
    app, calls = _app(LeanRoute)
    route = next(r for r in app.router.routes if getattr(r, "path", None) == "/items")
    assert isinstance(route, LeanRoute)
    assert route.planned
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        reply = await client.post("/items", json=VALID, headers={"X-Client-Type": "native"})
    assert reply.status_code == 200
    assert reply.json()[1:] == ["someone", "someone!", "native"]
    assert reply.cookies["seen"] == "1"  # set on the Response the dependency was given
    assert calls == {"who": 1, "endpoint": 1}


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "inner", "data", "count", "tags", "x"]), children
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_json_values)
async def test_any_json_is_answered_as_fastapi_does(value: Any) -> None:
    content = json.dumps(value).encode()
    lean, plain = await _both("POST", "/items", content, JSON)
    assert lean == plain


def test_the_hot_routes_and_other_simple_ones_are_planned() -> None:
    app = create_app(Settings(fast_paths=True))
    planned = {
        (method, route.path)
        for route in app.router.routes
        if isinstance(route, LeanRoute) and route.planned
        for method in route.methods or ()
    }
    assert planned == {
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


async def test_an_including_routers_dependencies_still_run() -> None:
    calls: Counter[str] = Counter()

    async def gate() -> None:
        raise HTTPException(401, "the including router's own check")

    app = FastAPI()
    app.include_router(_router(LeanRoute, calls), dependencies=[Depends(gate)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/items", json=VALID)).status_code == 401
        assert (await client.get("/me")).status_code == 401
    assert calls["endpoint"] == 0


@pytest.mark.parametrize("direct", [True, False])
async def test_dependency_overrides_are_honoured(direct: bool) -> None:
    app = FastAPI()
    app.router.routes.extend(_router(LeanRoute, Counter(), provider=app).routes)
    if direct:
        app.add_middleware(DirectRoutes, router=app.router)
    route = next(r for r in app.router.routes if getattr(r, "path", None) == "/me")
    assert isinstance(route, LeanRoute)
    assert route.planned
    who = route.dependant.dependencies[0].call
    assert who is not None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/me")).text == "someone"
        app.dependency_overrides[who] = lambda: "stand-in"
        assert (await client.get("/me")).text == "stand-in"


# --- what a review found the plan doing otherwise than FastAPI (each failed before) -----


class Named(BaseModel):
    name: str


def _not_admin(value: Named) -> Named:
    if value.name == "admin":
        raise ValueError("reserved")
    return value


class StrictDate(BaseModel):
    model_config = ConfigDict(strict=True)
    when: dt.date


def _review_app(route_class: type) -> tuple[FastAPI, Counter[str]]:
    calls: Counter[str] = Counter()
    router = APIRouter(route_class=route_class)

    async def counted() -> None:  # a rate-limit counter, say: never cached
        calls["counted"] += 1

    async def account(_: Annotated[None, Depends(counted, use_cache=False)]) -> str:
        calls["account"] += 1
        return "a"

    async def first(value: Annotated[str, Depends(account)]) -> str:
        return value

    async def second(value: Annotated[str, Depends(account)]) -> str:
        return value

    @router.post("/validated")
    async def validated(body: Annotated[Named, AfterValidator(_not_admin)]) -> Response:
        return Response(body.name)

    @router.post("/strict")
    async def strict(body: StrictDate) -> Response:
        return Response(body.when.isoformat())

    @router.get("/cached")
    async def cached(
        one: Annotated[str, Depends(first)], two: Annotated[str, Depends(second)]
    ) -> Response:
        return Response(one + two)

    app = FastAPI()
    problems.install(app)
    app.router.routes.extend(router.routes)
    return app, calls


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/validated", b'{"name": "admin"}'),  # an Annotated validator on the body
        ("/validated", b'{"name": "someone"}'),
        ("/strict", b'{"when": "2024-01-02"}'),  # strict in Python mode, not in JSON mode
    ],
)
async def test_the_body_is_validated_as_fastapi_validates_it(path: str, content: bytes) -> None:
    lean, plain = await _both("POST", path, content, JSON, app_of=_review_app)
    assert lean == plain


async def test_a_cached_dependencys_uncached_dependencies_run_each_time_it_is_reached() -> None:
    lean, plain = await _both("GET", "/cached", None, JSON, app_of=_review_app)
    assert lean == plain
    assert lean[3] == {"counted": 2, "account": 1}


async def _statuses(app: FastAPI, path: str, messages: list[dict[str, Any]]) -> list[int]:
    """The answer's status to a raw JSON POST whose body arrives as `messages` (and no
    Content-Length to refuse it by up front); after them, the client waits."""
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> Any:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
        "client": ("c", 1),
        "root_path": "",
        "asgi": {"version": "3.0"},
    }
    async with asyncio.timeout(10):  # a handler waiting for a spent body would hang
        await app(scope, receive, send)
    return [m["status"] for m in sent if m["type"] == "http.response.start"]


async def _status_for_a_client_gone_before_its_body(
    route_class: type, *, direct: bool = False
) -> list[int]:
    app, _ = _review_app(route_class)
    if direct:
        app.add_middleware(DirectRoutes, router=app.router)
    gone = {"type": "http.disconnect"}
    return await _statuses(app, "/validated", [gone, gone, gone])


async def test_a_client_gone_before_its_body_is_answered_as_fastapi_does() -> None:
    lean = await _status_for_a_client_gone_before_its_body(LeanRoute)
    direct = await _status_for_a_client_gone_before_its_body(LeanRoute, direct=True)
    plain = await _status_for_a_client_gone_before_its_body(_PlainRoute)
    assert lean == direct == plain == [400]


def _limited_app(route_class: type, *, where: str) -> tuple[FastAPI, Counter[str]]:
    """FastAPI's own body-size limit, on the route or on the whole app."""
    router = APIRouter(route_class=route_class)

    @router.post("/limited", max_body_size=16 if where == "route" else None)
    async def limited(body: Named) -> Response:
        return Response(body.name)

    app = FastAPI(max_body_size=16 if where == "app" else None)
    problems.install(app)
    app.router.routes.extend(router.routes)
    return app, Counter()


@pytest.mark.parametrize("where", ["route", "app"])
@pytest.mark.parametrize("chunks", [[b'{"name":', b' "n"}'], [b'{"name":', b' "far too long"}']])
async def test_fastapis_body_size_limits_answer_as_fastapi_does(
    where: str, chunks: list[bytes]
) -> None:
    statuses = []
    for route_class in (LeanRoute, _PlainRoute):
        app, _ = _limited_app(route_class, where=where)
        messages = [
            {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
            for i, chunk in enumerate(chunks)
        ]
        statuses.append(await _statuses(app, "/limited", messages))
    assert statuses[0] == statuses[1] == ([413] if len(b"".join(chunks)) > 16 else [200])
