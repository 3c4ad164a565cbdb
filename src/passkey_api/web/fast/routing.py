"""LeanRoute: FastAPI's APIRoute with a shorter way from a valid request to its endpoint.

FastAPI's request handler is general: for every request it parses the body with the
stdlib's json, checks the content type with `email.message`, and solves the dependency
tree, building the query parameters, headers and cookies of every dependant whether it
declares any or not. On the hot routes that is a tenth of a sign-in's CPU and more of a
session check's.

A LeanRoute plans, once, what its endpoint takes. When that is only a JSON body model,
optional string headers, the Request, the Response, and dependencies that take no more
than those, a request whose body is `application/json` and valid is answered from the
plan: the body read and validated exactly as FastAPI reads and validates it (Starlette's
`request.json()`, then the body field's own validation in Python mode, its `Annotated`
validators included), the dependencies called directly, in FastAPI's order and with its
per-request cache. Everything else takes FastAPI's own handler, which also answers every
request the plan does not accept (no or another content type, invalid JSON, a body that
fails validation, a header that fails, a FastAPI body-size limit in force): the errors,
their order and their wording are FastAPI's, by construction. A body that cannot be
read at all (a client gone before it arrived, a middleware's refusal) cannot be read
again either: the plan raises there what FastAPI's handler raises. Also FastAPI's: any
route whose endpoint returns something other than a Response (it is then serialised by
its response model), requests under dependency overrides, and requests traced by
FastAPI's OpenTelemetry hooks.

The plan is the route's `answer` (None where it declines a request); the handler FastAPI
calls is the plan, then FastAPI's own where it declined. dispatch.DirectRoutes calls the
plan of a static route without going through FastAPI's router at all.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import fastapi.dependencies.models
import fastapi.routing
from fastapi import Request, Response
from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation, request_params_to_args
from fastapi.params import Body, Form
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Answer = Callable[[Request], Coroutine[Any, Any, Response | None]]

# Scope key: the route whose plan declined this request on dispatch.DirectRoutes' lane.
DECLINED = "passkey_api.declined"

# Set while FastAPI builds the handler of a route included into another router, whose
# dependencies and overrides are then the including router's too: such a route keeps
# FastAPI's handler. (Private to FastAPI; without it, no route is taken for included.)
_INCLUDING = getattr(fastapi.routing, "_effective_route_context_var", None)
_UNREAD = object()

# How FastAPI keys its per-request cache of dependencies (also private; without it, no
# route is planned).
_CACHE_KEY = getattr(fastapi.dependencies.models, "_get_cache_key", None)


@dataclass(frozen=True)
class _Plan:
    """How to call one dependant (the endpoint or one of its dependencies)."""

    call: Callable[..., Any]
    dependant: Dependant
    dependencies: tuple[_Plan, ...]
    cache_key: Any  # FastAPI's key for this dependant's value in the request's cache

    def nodes(self) -> tuple[_Plan, ...]:
        return (self, *(node for sub in self.dependencies for node in sub.nodes()))

    async def solve(
        self,
        request: Request,
        response: Response,
        headers: dict[int, dict[str, Any]],
        cache: dict[Any, Any],
    ) -> dict[str, Any]:
        """The arguments of this dependant: its dependencies solved first, as FastAPI
        solves them. A cached dependency is called at most once per request, but its own
        dependencies are solved every time it is reached (an uncached one among them is
        called again), as FastAPI does."""
        dependant = self.dependant
        values: dict[str, Any] = {}
        for sub in self.dependencies:
            arguments = await sub.solve(request, response, headers, cache)
            if sub.dependant.use_cache and sub.cache_key in cache:
                solved = cache[sub.cache_key]
            else:
                solved = await sub.call(**arguments)
                cache.setdefault(sub.cache_key, solved)
            if sub.dependant.name is not None:
                values[sub.dependant.name] = solved
        if dependant.header_params:
            values.update(headers[id(self)])
        if dependant.request_param_name is not None:
            values[dependant.request_param_name] = request
        if dependant.response_param_name is not None:
            values[dependant.response_param_name] = response
        return values


def _plan(dependant: Dependant, *, body_allowed: bool) -> _Plan | None:
    """A plan for `dependant`, or None where it needs what only FastAPI's solver does."""
    call = dependant.call
    if (
        call is None
        or _CACHE_KEY is None
        or not inspect.iscoroutinefunction(call)  # plain `async def` only: no classes,
        or dependant.path_params  # generators, sync functions (thread pool) or scopes
        or dependant.query_params
        or dependant.cookie_params
        or (dependant.body_params and not body_allowed)
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
        or dependant.concurrency is not None
    ):
        return None
    subs = []
    for sub in dependant.dependencies:
        planned = _plan(sub, body_allowed=False)
        if planned is None:
            return None
        subs.append(planned)
    return _Plan(
        call=call,
        dependant=dependant,
        dependencies=tuple(subs),
        cache_key=_CACHE_KEY(dependant=dependant),
    )


def _json_body(route: APIRoute) -> ModelField | None:
    """A route's body field when it is one JSON model; None for no body and any other
    (embedded, a form, several parameters, not a model)."""
    fields = route.dependant.body_params
    if len(fields) != 1 or route._embed_body_fields:
        return None
    field = fields[0]
    model = field.field_info.annotation
    if (
        not isinstance(field.field_info, Body)
        or isinstance(field.field_info, Form)
        or not (inspect.isclass(model) and issubclass(model, BaseModel))
    ):
        return None
    return field


def _returns_response(call: Callable[..., Any]) -> bool:
    """Whether the endpoint says it returns a Response, read as FastAPI reads it."""
    returned: object = get_typed_return_annotation(call)
    return inspect.isclass(returned) and issubclass(returned, Response)


def _is_json(request: Request) -> bool:
    """Whether the content type is application/json, as FastAPI reads it too (FastAPI
    also reads application/*+json and other spellings: those take its handler)."""
    for key, value in request.scope["headers"]:
        if key == b"content-type":  # the first, as FastAPI's request.headers.get()
            media_type: bytes = value.partition(b";")[0]
            return media_type.strip().lower() == b"application/json"
    return False


class LeanRoute(APIRoute):
    # The plan, where there is one: the answer to a request it accepts, None for a request
    # FastAPI's handler must take. dispatch.DirectRoutes calls it without FastAPI's router.
    answer: Answer | None = None

    @property
    def planned(self) -> bool:
        """Whether this route's valid requests are answered from its plan."""
        return self.answer is not None

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        if _INCLUDING is None or _INCLUDING.get() is not None:
            return standard
        body = _json_body(self)
        plan = _plan(self.dependant, body_allowed=True)
        if (
            plan is None
            or (self.dependant.body_params and body is None)
            or not _returns_response(self.endpoint)
        ):
            return standard
        endpoint = self.endpoint
        overrides = self.dependency_overrides_provider
        with_headers = tuple(node for node in plan.nodes() if node.dependant.header_params)

        async def answer(request: Request) -> Response | None:
            if (overrides is not None and overrides.dependency_overrides) or (
                get_telemetry_data() is not None
            ):
                return None
            values: dict[str, Any] = {}
            if body is not None:
                if MAX_BODY_SIZE_SCOPE_KEY in request.scope:
                    return None  # FastAPI's body-size limit: its handler words what it raises
                try:
                    received = await request.body()
                except HTTPException:
                    raise  # a middleware's refusal, which FastAPI's handler raises as is
                except Exception as exc:
                    # A client gone mid-body, answered as FastAPI's handler answers it: the
                    # stream is spent, so that handler could not read it again.
                    raise HTTPException(400, detail="There was an error parsing the body") from exc
                parsed: Any = _UNREAD
                # Invalid JSON leaves it unread: FastAPI's turn.
                with contextlib.suppress(Exception):
                    if received and _is_json(request):
                        # Starlette's parse, kept on the request: FastAPI's handler reads
                        # the same one if it answers after all.
                        parsed = await request.json()
                if parsed is _UNREAD:
                    return None
                # The field's own validation, as FastAPI runs it (Python mode, Annotated
                # validators and all).
                values[body.name], errors = body.validate(parsed, {}, loc=("body",))
                if errors:
                    return None
            # Every header is checked before any dependency runs: a request refused here
            # must not have counted against a rate limit on the way.
            headers: dict[int, dict[str, Any]] = {}
            for node in with_headers:
                headers[id(node)], errors = request_params_to_args(
                    node.dependant.header_params, request.headers
                )
                if errors:
                    return None
            # What FastAPI hands dependencies that take a Response: headers set on it
            # are the endpoint's to carry over (it returns a Response of its own).
            response = Response()
            del response.headers["content-length"]
            response.status_code = None  # type: ignore[assignment]
            values.update(await plan.solve(request, response, headers, {}))
            answered = await endpoint(**values)
            if not isinstance(answered, Response):
                raise TypeError(f"{endpoint.__qualname__} must return a Response")
            return answered

        async def handler(request: Request) -> Response:
            if request.scope.get(DECLINED) is self:
                return await standard(request)  # the plan has seen this request already
            answered = await answer(request)
            return answered if answered is not None else await standard(request)

        self.answer = answer
        return handler
