"""Who is calling: the session behind the request's cookie or bearer token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Response

from passkey_api.errors import NotAuthenticated
from passkey_api.resources import DbDep, ResourcesDep
from passkey_api.sessions import service, transport
from passkey_api.sessions.service import ActiveSession, ClientInfo


async def optional_session(
    request: Request, response: Response, resources: ResourcesDep, db: DbDep
) -> ActiveSession | None:
    settings = resources.settings
    token, via = transport.read_token(request, settings, resources.secret_key)
    if token is None:
        return None
    active = await service.resolve(
        db, token, lifetime=settings.session_lifetime, now=datetime.now(UTC)
    )
    if active is not None and active.extended and via == "cookie":
        transport.set_cookie(
            response, settings, resources.secret_key, token, active.session.expires_at
        )
    return active


async def current_session(
    active: Annotated[ActiveSession | None, Depends(optional_session)],
) -> ActiveSession:
    if active is None:
        raise NotAuthenticated()
    return active


def client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        user_agent=request.headers.get("user-agent"),
        ip=request.client.host if request.client else None,
    )


OptionalSession = Annotated[ActiveSession | None, Depends(optional_session)]
CurrentSession = Annotated[ActiveSession, Depends(current_session)]
Client = Annotated[ClientInfo, Depends(client_info)]
