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
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, _IncludedRouter
from starlette.routing import BaseRoute, Route, WebSocketRoute

from passkey_api.web.fast.routing import LeanRoute


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
            sources = list(route.effective_route_contexts())
        else:
            return f"a route of a kind they do not know ({type(route).__name__})"
        for source in sources:
            original = getattr(source, "original_route", source)
            if (
                type(original) is not APIRoute
                or source.stream_item_type is not None
                or source.is_sse_stream
                or source.is_json_stream
            ):
                return f"{getattr(source, 'path', '?')} is not a route they know"
            flat.append(_lean(source, original))
    router.routes[:] = _undocumented_last(flat)
    router._mark_routes_changed()
    return None


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
