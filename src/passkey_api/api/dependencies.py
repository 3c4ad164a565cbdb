"""Who is calling: the session behind the request's cookie or bearer token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Response

from passkey_api.errors import NotAuthenticated, RecoverySessionRestricted, RoleRequired
from passkey_api.kit.client_info import ClientInfo
from passkey_api.sessions import service
from passkey_api.sessions.service import RECOVERY, RECOVERY_ALLOWED, ActiveSession, Purpose
from passkey_api.web import throttle, transport
from passkey_api.web.resources import Resources, ResourcesDep, resources_of


def _route_path(request: Request) -> str | None:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


# Where a request keeps the session it resolved (in its ASGI scope's state).
_RESOLVED = "passkey_api.active_session"


async def optional_session(request: Request, response: Response) -> ActiveSession | None:
    # Once per request, even for a route that takes both CurrentSession and
    # OptionalSession: current_session calls this directly, outside FastAPI's dependency
    # cache, and a second run would count the request twice against the session's limit.
    state = request.scope.setdefault("state", {})
    if _RESOLVED in state:
        resolved: ActiveSession | None = state[_RESOLVED]
        return resolved
    state[_RESOLVED] = active = await _resolve(request, response)
    return active


async def _resolve(request: Request, response: Response) -> ActiveSession | None:
    # resources_of(), not a ResourcesDep sub-dependency: this runs on every authenticated
    # request, and each dependency FastAPI solves costs more than the lookup it saves.
    resources = resources_of(request)
    settings = resources.settings
    token, via, outdated = transport.read_token(request, settings, resources.secret_key)
    await throttle.limit_session(resources, request, token)
    if token is None:
        return None
    # Not on the request's database session: the lookup must not commit anything a route
    # or an embedder's dependency did before it there.
    active = await service.resolve(
        resources.databases,
        token,
        lifetimes=settings.session_lifetimes,
        now=datetime.now(UTC),
        cache=resources.session_cache,
    )
    if active is None:
        return None
    if (
        active.session.scope == RECOVERY
        and (request.method, _route_path(request)) not in RECOVERY_ALLOWED
    ):
        raise RecoverySessionRestricted(
            "This session was made by account recovery: add a passkey first "
            "(POST /v1/me/passkeys/options), which turns it into a normal session."
        )
    # Set again when the session slid, or when the cookie was signed with a key the
    # secret key replaced: signed with the current one, it outlives the previous key.
    if (active.extended or outdated) and via == "cookie":
        transport.set_cookie(
            response, settings, resources.secret_key, token, active.session.expires_at
        )
    return active


async def current_session(request: Request, response: Response) -> ActiveSession:
    active = await optional_session(request, response)
    if active is None:
        raise NotAuthenticated()
    return active


CurrentSession = Annotated[ActiveSession, Depends(current_session)]


def require_role(role: str) -> Callable[[ActiveSession], Awaitable[ActiveSession]]:
    """A dependency that admits only signed-in users holding `role` (403 otherwise).

    Embedders protect their own routes the same way:
    `@app.get("/reports", dependencies=[Depends(require_role("admin"))])`.
    """

    async def dependency(active: CurrentSession) -> ActiveSession:
        if role not in active.user.roles:
            raise RoleRequired(f"This needs the {role!r} role.", role=role)
        return active

    return dependency


def require_reauthentication(
    purpose: Purpose,
) -> Callable[[ActiveSession, Resources], Awaitable[ActiveSession]]:
    """A dependency that admits the session only within the re-authentication window of
    `purpose`; otherwise 403 `reauthentication_required` tells the client to call
    /v1/session/reauthenticate/options with that purpose (`passkey_required` or
    `fresh_sign_in_required` for an account without a passkey: see check_step_up)."""

    async def dependency(active: CurrentSession, resources: ResourcesDep) -> ActiveSession:
        window, now = resources.settings.reauth_window, datetime.now(UTC)
        if service.reauthenticated_within(active.session, purpose, window=window, now=now):
            return active  # the common case, without a query
        async with resources.sessionmaker() as db:
            await service.check_step_up(db, active, purpose, window=window, now=now)
        return active

    return dependency


async def passkey_enrolment(active: CurrentSession, resources: ResourcesDep) -> ActiveSession:
    """Who may add a passkey: a full session with a fresh "passkeys" step-up, or a recovery
    session, which cannot step up (it has no passkey yet) and exists only for this: the
    recovery code or emailed link that made it minutes ago is its proof."""
    if active.session.scope == RECOVERY:
        return active
    return await require_reauthentication("passkeys")(active, resources)


async def client_info(request: Request) -> ClientInfo:
    return client_of(request, resources_of(request))


def client_of(request: Request, resources: Resources) -> ClientInfo:
    return ClientInfo(user_agent=request.headers.get("user-agent"), ip=resources.client_ip(request))


OptionalSession = Annotated[ActiveSession | None, Depends(optional_session)]
Admin = Annotated[ActiveSession, Depends(require_role("admin"))]
Client = Annotated[ClientInfo, Depends(client_info)]
