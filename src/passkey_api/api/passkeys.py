"""/v1/me/passkeys: the signed-in user's passkeys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status

from passkey_api import errors
from passkey_api.api.dependencies import (
    Client,
    CurrentSession,
    passkey_enrolment,
    require_reauthentication,
)
from passkey_api.ceremonies import add_passkey
from passkey_api.ceremonies.schemas import (
    AddPasskeyOptionsRequest,
    CreationOptionsJSON,
    RegistrationResponseJSON,
)
from passkey_api.passkeys import service
from passkey_api.passkeys.schemas import (
    PasskeyList,
    PasskeyOut,
    PasskeyRenamed,
    RenamePasskey,
    SafeguardOut,
)
from passkey_api.recovery import by_code, mailing
from passkey_api.recovery.schemas import PasskeyAdded, Recovered
from passkey_api.sessions.schemas import SessionListItem, SessionOut
from passkey_api.sessions.service import ActiveSession
from passkey_api.web import transport
from passkey_api.web.openapi import problem_responses
from passkey_api.web.resources import ChallengeStoreDep, DbDep, ResourcesDep, SettingsDep

router = APIRouter(
    prefix="/v1/me/passkeys",
    tags=["passkeys"],
    responses=problem_responses(errors.RateLimited),
)

ManagePasskeys = Annotated[ActiveSession, Depends(require_reauthentication("passkeys"))]
# Adding one: as above, or in a recovery session (see passkey_enrolment).
EnrolPasskey = Annotated[ActiveSession, Depends(passkey_enrolment)]
PasskeyId = Annotated[str, Path(description="The credential id (base64url)", max_length=2048)]

_SIGNED_IN = (errors.NotAuthenticated,)
_SUDO: tuple[type[errors.ApiError], ...] = (errors.NotAuthenticated, *errors.STEP_UP_ERRORS)


@router.get("", responses=problem_responses(*_SIGNED_IN))
async def list_passkeys(active: CurrentSession, db: DbDep, resources: ResourcesDep) -> PasskeyList:
    """The user's passkeys, each with its model and what its attestation proved, and
    whether the authenticator metadata reports the model compromised (`compromised`)."""
    user, settings = active.user, resources.settings
    passkeys = await service.list_for(db, user)
    codes = await by_code.codes_status(db, user)
    safeguards = service.safeguards(
        passkeys,
        unused_codes=codes.remaining,
        verified_address=settings.email_recovery
        and mailing.notified(user.email, user.email_verified_at),
    )
    return PasskeyList(
        passkeys=[PasskeyOut.of(p, resources.metadata) for p in passkeys],
        recovery_risk=not safeguards,
        recovery_safeguards=[SafeguardOut(kind=s.kind, detail=s.detail) for s in safeguards],
        recovery_advice=service.recovery_advice(passkeys, safeguards),
        signals=service.signals(settings.rp_id, user, [p.credential_id for p in passkeys]),
    )


@router.post(
    "/options",
    response_model=None,
    responses={
        200: {"model": CreationOptionsJSON},
        **problem_responses(
            *_SUDO,
            errors.ChallengeStoreUnavailable,
            errors.ChallengeStoreFull,
            errors.TooManyPasskeys,
        ),
    },
)
async def add_passkey_options(
    body: AddPasskeyOptionsRequest,
    active: EnrolPasskey,
    db: DbDep,
    store: ChallengeStoreDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Start adding one more passkey (a security key, a phone over hybrid...).
    excludeCredentials lists the user's passkeys so one authenticator is not added twice.
    A recovery session may do this (and only this) without a step-up."""
    # Returned as data, not a Response, so that a refreshed session cookie goes out too.
    return await add_passkey.options(db, store, settings, active.user, body)


@router.post(
    "/verify",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(*_SUDO, *errors.ATTESTATION_ERRORS, errors.TooManyPasskeys),
)
async def add_passkey_verify(
    body: RegistrationResponseJSON,
    request: Request,
    response: Response,
    active: EnrolPasskey,
    db: DbDep,
    store: ChallengeStoreDep,
    resources: ResourcesDep,
    client: Client,
) -> PasskeyAdded:
    """Store the new passkey. In a recovery session, the session is replaced by a full one
    (a new cookie, or `recovered.session_token` for a bearer client) and `recovered`
    lists the account's other sessions for review."""
    added = await add_passkey.verify(
        db,
        store,
        resources.settings,
        active,
        body,
        decoy_seed=await resources.decoy_seed.get(),
        client=client,
        now=datetime.now(UTC),
        metadata=resources.metadata,
    )
    recovered = None
    if added.recovered is not None:
        new = added.recovered
        recovered = Recovered(
            session=SessionOut.of(new.session),
            session_token=transport.hand_out(
                response,
                resources.settings,
                resources.secret_key,
                new.token,
                new.session.expires_at,
                native=transport.came_as_bearer(request),
            ),
            other_sessions=[SessionListItem.of(s, current_id=None) for s in new.others],
        )
    return PasskeyAdded(
        **PasskeyOut.of(added.passkey, resources.metadata).model_dump(), recovered=recovered
    )


@router.patch(
    "/{passkey_id}",
    responses=problem_responses(*_SIGNED_IN, errors.NotFound, errors.ValidationFailed),
)
async def rename_passkey(
    passkey_id: PasskeyId,
    body: RenamePasskey,
    active: CurrentSession,
    db: DbDep,
    settings: SettingsDep,
    client: Client,
    resources: ResourcesDep,
) -> PasskeyRenamed:
    passkey = await service.rename(
        db, active.user, passkey_id, body.name, client=client, now=datetime.now(UTC)
    )
    signals = await service.signals_for(db, settings.rp_id, active.user)
    return PasskeyRenamed(
        **PasskeyOut.of(passkey, resources.metadata).model_dump(), signals=signals
    )


@router.delete(
    "/{passkey_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*_SUDO, errors.NotFound, errors.LastPasskey),
)
async def delete_passkey(
    passkey_id: PasskeyId, active: ManagePasskeys, db: DbDep, client: Client
) -> None:
    """Remove a passkey (204). Then fetch GET /v1/me/signals and pass
    `all_accepted_credentials` to signalAllAcceptedCredentials() so the browser or
    password manager stops offering it."""
    await service.remove(db, active.user, passkey_id, client=client, now=datetime.now(UTC))
