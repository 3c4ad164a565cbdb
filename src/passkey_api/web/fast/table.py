"""The app's routing table made flat, each API route a LeanRoute.

A router included with `app.include_router()` stays a nested router in FastAPI 0.165:
the app's router asks it whether a request matches, and then it matches the request
again to answer it, for every router tried before the right one (4-6 % of a session
check's instructions). Here the routes FastAPI derived for the inclusion (its effective
routes: the including router's prefix, dependencies, responses and the app as the
dependency-overrides provider, all applied) become routes of the app's own router, in
the order the nested routers would have tried them: the same routes, the same matching,
the same OpenAPI document, and `app.dependency_overrides` still reach them (a LeanRoute
leaves a request to FastAPI's own handler while overrides are set).

One change of order: a static route left out of the document (the docs pages, /metrics,
/.well-known/*, the demo page) goes to the end when no route it would pass there could
take its path, so that the routes a load balancer and the clients call (`/healthz`
first) are not tried after them. Every request is matched by the route it was before,
and the document, made from the routes in it, keeps its order.

Only what is known to come across whole is flattened: FastAPI's own APIRoute, Starlette's
plain routes (the docs), routers without form limits or low-priority (frontend) routes.
Anything else leaves the table as it is, and says why.

Setting up a route is FastAPI's costliest step (its dependencies analysed, a pydantic
adapter for each response model: 0.3 ms a route, 145 ms an app, twice as FastAPI also
derives the inclusion's effective routes). The routers are the process's, included
alike by every app (tests make hundreds): so each included route's LeanRoute is made
once per process and inclusion, as a template, and each app gets a copy bound to it
(its overrides provider, its own handler), as `app.include_router()` once copied
routes.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from fastapi import FastAPI
from fastapi._body_limit import wrap_app_with_body_limit
from fastapi.routing import (
    APIRoute,
    _EffectiveRouteContext,
    _IncludedRouter,
    _RouterIncludeContext,
    request_response,
)
from starlette.routing import BaseRoute, Route, WebSocketRoute

from passkey_api.web.fast.routing import LeanRoute

# id(route) -> (the route, its inclusion without the app, its LeanRoute bound to no app).
_templates: dict[int, tuple[APIRoute, _RouterIncludeContext, LeanRoute]] = {}


def flatten(app: FastAPI) -> str | None:
    """Make the app's routes flat; None if done, else why they were left alone."""
    router = app.router
    if router.form_limits or any(True for _ in router._iter_low_priority_routes()):
        return "the app's router has form limits or low-priority routes"
    flat: list[BaseRoute] = []
    for route in router.routes:
        if type(route) in (Route, WebSocketRoute):  # Starlette's own: the docs' routes
            flat.append(route)
            continue
        if type(route) is APIRoute:  # declared on the app itself
            sources: list[Any] = [route]
        elif isinstance(route, _IncludedRouter) and not route.include_context.form_limits:
            included = _from_templates(route)
            if included is not None:
                flat.extend(included)
                continue
            sources = list(route.effective_route_contexts())  # nested routers and such
        else:
            return f"a route of a kind they do not know ({type(route).__name__})"
        for source in sources:
            refused = _refused(source)
            if refused:
                return refused
            flat.append(_lean(source, getattr(source, "original_route", source)))
    router.routes[:] = _undocumented_last(flat)
    router._mark_routes_changed()
    return None


def _refused(source: Any) -> str | None:
    """Why `source` (an APIRoute or an effective route) cannot be a LeanRoute, if so."""
    original = getattr(source, "original_route", source)
    if (
        type(original) is not APIRoute
        or source.stream_item_type is not None
        or source.is_sse_stream
        or source.is_json_stream
    ):
        return f"{getattr(source, 'path', '?')} is not a route they know"
    return None


def _from_templates(included: _IncludedRouter) -> list[LeanRoute] | None:
    """The LeanRoutes of a router included with no router of its own inside, bound to
    the including app; None for any other (and for a route that cannot be one: then the
    general way says why)."""
    context = included.include_context
    routes = [route for route in included.original_router.routes if type(route) is APIRoute]
    if len(routes) != len(included.original_router.routes):
        return None
    inclusion = dataclasses.replace(context, dependency_overrides_provider=None)
    bound = []
    for route in routes:
        known = _templates.get(id(route))
        if known is not None and known[0] is route and known[1] == inclusion:
            template = known[2]
        else:
            effective = _EffectiveRouteContext.from_api_route(
                original_route=route, include_context=inclusion
            )
            if _refused(effective):
                return None
            template = _lean(effective, route)
            _templates[id(route)] = (route, inclusion, template)
        bound.append(_bound(template, context.dependency_overrides_provider))
    return bound


def _bound(template: LeanRoute, provider: Any) -> LeanRoute:
    """A copy of `template` whose dependency overrides are `provider`'s, with a handler of
    its own (made as APIRoute.__init__ makes it)."""
    route = copy.copy(template)
    route.dependency_overrides_provider = provider
    route.app = wrap_app_with_body_limit(
        request_response(route.get_route_handler()), route.max_body_size
    )
    return route


def _undocumented_last(routes: list[BaseRoute]) -> list[BaseRoute]:
    """`routes`, a static route outside the document moved to the end where none of the
    routes after it matches its path (the router takes the first route that matches, so
    it then takes the same route for every request)."""
    kept: list[BaseRoute] = []
    last: list[BaseRoute] = []
    for index, route in enumerate(routes):
        movable = (
            isinstance(route, Route)
            and not route.include_in_schema
            and not route.param_convertors
            and not any(
                isinstance(later, Route | WebSocketRoute) and later.path_regex.match(route.path)
                for later in routes[index + 1 :]
            )
        )
        (last if movable else kept).append(route)
    return kept + last


def _lean(source: Any, original: APIRoute) -> LeanRoute:
    """A LeanRoute declared as `source` is: an APIRoute of the app, or the effective route
    of one in an included router (what FastAPI's own handler for it is made from)."""
    return LeanRoute(
        source.path,
        source.endpoint,
        response_model=source.response_model,
        status_code=source.status_code,
        tags=source.tags,
        dependencies=source.dependencies,
        summary=source.summary,
        description=source.description,
        response_description=source.response_description,
        responses=source.responses,
        deprecated=source.deprecated,
        name=source.name,
        methods=source.methods,
        operation_id=source.operation_id,
        response_model_include=source.response_model_include,
        response_model_exclude=source.response_model_exclude,
        response_model_by_alias=source.response_model_by_alias,
        response_model_exclude_unset=source.response_model_exclude_unset,
        response_model_exclude_defaults=source.response_model_exclude_defaults,
        response_model_exclude_none=source.response_model_exclude_none,
        include_in_schema=source.include_in_schema,
        response_class=source.response_class,
        dependency_overrides_provider=source.dependency_overrides_provider,
        callbacks=source.callbacks,
        openapi_extra=source.openapi_extra,
        generate_unique_id_function=source.generate_unique_id_function,
        strict_content_type=source.strict_content_type,
        max_body_size=source.max_body_size,
        form_limits=original.form_limits,
    )
