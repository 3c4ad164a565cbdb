"""/v1/session (the caller's own session, re-authentication) and /v1/me/sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from passkey_api import errors
from passkey_api.api.dependencies import (
    Client,
    CurrentSession,
    OptionalSession,
    require_reauthentication,
)
from passkey_api.ceremonies import step_up
from passkey_api.ceremonies.schemas import (
    AuthenticationResponseJSON,
    Reauthenticated,
    ReauthenticationOptionsRequest,
    RequestOptionsJSON,
)
from passkey_api.sessions import service
from passkey_api.sessions.schemas import (
    Revoked,
    SessionInfo,
    SessionList,
    SessionListItem,
    SessionOut,
)
from passkey_api.sessions.service import ActiveSession
from passkey_api.users.schemas import UserOut
from passkey_api.web import oauth_binding as binding
from passkey_api.web import transport
from passkey_api.web.openapi import problem_responses
from passkey_api.web.resources import ChallengeStoreDep, DbDep, ResourcesDep, SettingsDep

router = APIRouter(
    tags=["session"],
    responses=problem_responses(errors.RateLimited),
)

ManageSessions = Annotated[ActiveSession, Depends(require_reauthentication("sessions"))]


@router.get(
    "/v1/session",
    response_model=SessionInfo,
    responses=problem_responses(errors.NotAuthenticated),
)
async def get_session(active: CurrentSession, response: Response) -> Response:
    """The signed-in user and their session; 401 when not signed in."""
    body = SessionInfo(user=UserOut.of(active.user), session=SessionOut.of(active.session))
    # Serialised once, here (returned as a model, FastAPI would validate it all again),
    # with what the session check set on `response`: the cookie, when it slid.
    answer = Response(body.model_dump_json(by_alias=True), media_type="application/json")
    answer.raw_headers.extend(response.raw_headers)
    return answer


@router.delete("/v1/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(active: OptionalSession, db: DbDep, resources: ResourcesDep) -> Response:
    """Sign out: the session is deleted, so its token is dead everywhere, and the cookie
    is cleared. Answers 204 even without a session, so signing out twice is harmless."""
    if active is not None:
        await service.revoke(db, active.session.id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    transport.clear_cookie(response, resources.settings)
    binding.clear_cookie(response, resources.settings)  # its social sign-in flows end too
    return response


@router.post(
    "/v1/session/reauthenticate/options",
    response_model=None,
    responses={
        200: {"model": RequestOptionsJSON},
        **problem_responses(
            errors.NotAuthenticated, errors.ChallengeStoreUnavailable, errors.ChallengeStoreFull
        ),
    },
)
async def reauthentication_options(
    body: ReauthenticationOptionsRequest,
    active: CurrentSession,
    db: DbDep,
    store: ChallengeStoreDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Start a step-up for one purpose: an assertion restricted to the user's own passkeys,
    with user verification required (preferred only for users who hold a key that cannot
    verify anyone, such as an old U2F key)."""
    return await step_up.options(
        db, store, settings, active, purpose=body.purpose, hints=list(body.hints)
    )


@router.post(
    "/v1/session/reauthenticate/verify",
    responses=problem_responses(*errors.ASSERTION_ERRORS, errors.NotAuthenticated),
)
async def reauthenticate(
    body: AuthenticationResponseJSON,
    request: Request,
    response: Response,
    active: CurrentSession,
    db: DbDep,
    store: ChallengeStoreDep,
    resources: ResourcesDep,
    client: Client,
) -> Reauthenticated:
    """Finish the step-up: the session (not a new one) may do that purpose's sensitive
    actions for PASSKEY_REAUTH_WINDOW, under a new token: a new cookie, or
    `session_token` for a bearer client. The old token stops working at once."""
    settings, now = resources.settings, datetime.now(UTC)
    stepped = await step_up.verify(
        db, store, settings, active, body, client=client, now=now, metadata=resources.metadata
    )
    return Reauthenticated(
        purpose=stepped.purpose,
        valid_until=now + settings.reauth_window,
        session_token=transport.hand_out(
            response,
            settings,
            resources.secret_key,
            stepped.token,
            stepped.session.expires_at,
            native=transport.came_as_bearer(request),
        ),
    )


@router.get("/v1/me/sessions", responses=problem_responses(errors.NotAuthenticated))
async def list_sessions(active: CurrentSession, db: DbDep) -> SessionList:
    sessions = await service.list_for(db, active.user)
    return SessionList(
        sessions=[SessionListItem.of(s, current_id=active.session.id) for s in sessions]
    )


@router.delete(
    "/v1/me/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(errors.NotAuthenticated, *errors.STEP_UP_ERRORS, errors.NotFound),
)
async def revoke_session(
    session_id: uuid.UUID,
    response: Response,
    active: ManageSessions,
    db: DbDep,
    resources: ResourcesDep,
    client: Client,
) -> None:
    """Revoke one session: it fails on its very next request."""
    await service.revoke_own(db, active, session_id, client=client, now=datetime.now(UTC))
    if session_id == active.session.id:
        transport.clear_cookie(response, resources.settings)


@router.delete(
    "/v1/me/sessions",
    responses=problem_responses(errors.NotAuthenticated, *errors.STEP_UP_ERRORS),
)
async def revoke_other_sessions(active: ManageSessions, db: DbDep, client: Client) -> Revoked:
    """Sign out everywhere else: every session but the current one."""
    return Revoked(
        revoked=await service.revoke_others(db, active, client=client, now=datetime.now(UTC))
    )
