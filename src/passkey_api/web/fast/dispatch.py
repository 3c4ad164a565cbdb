"""DirectRoutes: a planned route's requests answered without FastAPI's router.

Between our middlewares and a route's handler, FastAPI runs its ExceptionMiddleware, an
exit-stack middleware, the router (which tries the routes in order), the route's method
check and `request_response` (two more exit stacks and a second exception wrapper). For
a request that a LeanRoute's plan accepts, none of that does anything: a plan takes no
path parameters, files or `yield` dependencies. DirectRoutes, the innermost of our
middlewares, finds the route by method and path in a table made once and answers from
its plan inside Starlette's own exception wrappers, with the ExceptionMiddleware's own
handlers: the same answer for 70-95k fewer instructions a request (a tenth of a session
check, 5 % of the server's part of a sign-in ceremony).

The same answer by construction:
- A route is in the table only if it is planned, has a static path and no body limit of
  its own, and is the route FastAPI's router would take for that method and path: the
  first that matches fully, on a router whose routes match on the path and method alone
  (no Host, Mount or included router) and that has no middleware, body-size or form
  limits of its own; else the table stays empty. The table is made when Starlette
  builds the middleware stack, at the app's startup: routes must be in place by then.
- A request its plan declines (another content type, a body or header that fails
  validation, dependency overrides, OpenTelemetry on) goes on to FastAPI's path, which
  routes it and answers it with FastAPI's own handler (marked, so that the plan does not
  look at it twice); the body the plan read is handed on, so nothing is read twice from
  the client.
- Exceptions meet the same handlers in the same nesting: two exception wrappers, as
  ExceptionMiddleware and `request_response` nest them.
- The router's own scope entries (`route`, `endpoint`, `path_params`, `router`) are set
  as the router sets them: metrics and logs name the route alike.
"""

from __future__ import annotations

from typing import Any

from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from passkey_api.web.fast.routing import DECLINED, LeanRoute
from passkey_api.web.guards import replay_body, route_path

# FastAPI marks a request it traces with this scope key; its router reports the route
# to the trace, so such a request takes the router.
_TRACED = "fastapi.telemetry"


class DirectRoutes:
    """Add it first (innermost of the middlewares), so that the app it wraps is the
    ExceptionMiddleware whose handlers it uses; otherwise it only passes requests on."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router
        # Built once, when Starlette builds the middleware stack (the app's first call,
        # its startup): routes added or removed later do not change it.
        self.lanes: dict[tuple[str, str], LeanRoute] = {}
        self._handlers: tuple[Any, Any] = ({}, {})  # read only on a lane
        if (
            isinstance(app, ExceptionMiddleware)
            # Nothing of the router's own between its call and its routes: no
            # middleware, no body-size limit, no form limits.
            and router.middleware_stack == router.app
            and not getattr(router, "form_limits", None)
        ):
            self.lanes = _lanes(router.routes)
            # As ExceptionMiddleware puts them in the scope for the wrappers inside it.
            self._handlers = (app._exception_handlers, app._status_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.lanes.get((scope["method"], route_path(scope)))
            if scope["type"] == "http" and _TRACED not in scope
            else None
        )
        if route is None or route.answer is None:
            await self.app(scope, receive, send)
            return
        # What the router sets: route.matches() of a static path, without its regex.
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        scope["route"] = route
        scope.setdefault("router", self.router)
        scope["starlette.exception_handlers"] = self._handlers
        request = Request(scope, receive, send)
        answer = route.answer
        declined = False

        async def respond(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal declined
            response = await answer(request)
            if response is None:
                declined = True
                return
            await response(scope, receive, send)

        # Two exception wrappers, with a Request each, as ExceptionMiddleware and
        # request_response nest them: an exception a handler raises is the outer one's.
        inner = wrap_app_handling_exceptions(respond, request)
        await wrap_app_handling_exceptions(inner, Request(scope, receive, send))(
            scope, receive, send
        )
        if declined:
            scope[DECLINED] = route  # its handler behind the router: FastAPI's at once
            await self.app(scope, _handed_on(request, receive), send)


def _lanes(routes: list[BaseRoute]) -> dict[tuple[str, str], LeanRoute]:
    """(method, path) -> the planned route the router would take for it."""
    if not all(isinstance(route, Route | WebSocketRoute) for route in routes):
        return {}
    lanes: dict[tuple[str, str], LeanRoute] = {}
    for route in routes:
        if (
            not isinstance(route, LeanRoute)
            or not route.planned
            or route.param_convertors
            or route.max_body_size is not None
        ):
            continue
        for method in route.methods or ():
            probe: Scope = {"type": "http", "method": method, "path": route.path, "root_path": ""}
            taken = next((r for r in routes if r.matches(probe)[0] is Match.FULL), None)
            if taken is route:
                lanes[(method, route.path)] = route
    return lanes


def _handed_on(request: Request, receive: Receive) -> Receive:
    """`receive` for the next reader of this request: the body the plan read, if it read
    it whole, then the client's own messages (a disconnect)."""
    body: bytes | None = getattr(request, "_body", None)  # Starlette's cache of body()
    return receive if body is None else replay_body(body, receive)
