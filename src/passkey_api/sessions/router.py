"""/v1/session: the caller's own session."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from passkey_api.errors import NotAuthenticated
from passkey_api.openapi import problem_responses
from passkey_api.resources import DbDep, ResourcesDep
from passkey_api.sessions import service, transport
from passkey_api.sessions.dependencies import CurrentSession, OptionalSession
from passkey_api.sessions.schemas import SessionInfo, SessionOut
from passkey_api.users.schemas import UserOut

router = APIRouter(prefix="/v1/session", tags=["session"])


@router.get("", responses=problem_responses(NotAuthenticated))
async def get_session(active: CurrentSession) -> SessionInfo:
    """The signed-in user and their session; 401 when not signed in."""
    return SessionInfo(user=UserOut.of(active.user), session=SessionOut.of(active.session))


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(
    request: Request, active: OptionalSession, db: DbDep, resources: ResourcesDep
) -> Response:
    """Sign out: the session is deleted, so its token is dead everywhere, and the cookie
    is cleared. Answers 204 even without a session, so signing out twice is harmless."""
    if active is not None:
        await service.revoke(db, active.session.id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    transport.clear_cookie(response, resources.settings)
    return response
