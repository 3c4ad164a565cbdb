"""/v1/me/identities: the signed-in user's accounts at social sign-in providers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from passkey_api import errors
from passkey_api.api.dependencies import Client, CurrentSession, require_reauthentication
from passkey_api.api.oauth import ProviderName
from passkey_api.identities import service
from passkey_api.identities.schemas import IdentityOut
from passkey_api.oauth import start as oauth
from passkey_api.oauth.schemas import IdentityList, LinkRequest, LinkStarted, ProviderOut
from passkey_api.sessions.service import ActiveSession
from passkey_api.web import oauth_binding as binding
from passkey_api.web import transport
from passkey_api.web.openapi import problem_responses
from passkey_api.web.resources import ChallengeStoreDep, DbDep, ResourcesDep, SettingsDep

router = APIRouter(
    prefix="/v1/me/identities",
    tags=["identities"],
    responses=problem_responses(errors.RateLimited),
)

ManageIdentities = Annotated[ActiveSession, Depends(require_reauthentication("identities"))]
_SUDO: tuple[type[errors.ApiError], ...] = (errors.NotAuthenticated, *errors.STEP_UP_ERRORS)


@router.get("", responses=problem_responses(errors.NotAuthenticated))
async def list_identities(active: CurrentSession, db: DbDep, settings: SettingsDep) -> IdentityList:
    identities = await service.list_for(db, active.user)
    return IdentityList(
        identities=[IdentityOut.of(i) for i in identities],
        providers=[ProviderOut.of(name, p) for name, p in settings.oauth_providers.items()],
    )


@router.post(
    "/{provider}",
    responses=problem_responses(
        *_SUDO,
        errors.OAuthProviderUnknown,
        errors.RedirectNotAllowed,
        errors.OAuthProviderError,
        errors.OAuthProviderUnavailable,
        errors.ChallengeStoreUnavailable,
    ),
)
async def link_identity(
    provider: ProviderName,
    body: LinkRequest,
    request: Request,
    response: Response,
    active: ManageIdentities,
    store: ChallengeStoreDep,
    resources: ResourcesDep,
) -> LinkStarted:
    """Start linking a provider account (after a step-up for `identities`): navigate the
    browser to `authorize_url`; it comes back to redirect_to with `?linked=<provider>`."""
    settings = resources.settings
    started = await oauth.begin_link(
        store,
        settings,
        resources.oauth,
        active,
        provider=provider,
        redirect_to=body.redirect_to,
        binding=binding.read(request, settings),
        secret_key=resources.secret_key,
    )
    binding.set_cookie(response, settings, started.binding)
    return LinkStarted(authorize_url=started.authorize_url)


@router.delete(
    "/{identity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*_SUDO, errors.NotFound, errors.LastSignInMethod),
)
async def unlink_identity(
    identity_id: uuid.UUID,
    active: ManageIdentities,
    db: DbDep,
    client: Client,
    resources: ResourcesDep,
) -> Response:
    """Unlink a provider account and end the sessions signed in with that provider
    (the current one too, if it was); 409 `last_sign_in_method` when the account would be
    left without a passkey or another provider to sign in with."""
    signed_out = await service.unlink(
        db,
        active,
        identity_id,
        providers=resources.settings.oauth_providers.keys(),
        client=client,
        now=datetime.now(UTC),
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    if signed_out:
        transport.clear_cookie(response, resources.settings)
    return response
