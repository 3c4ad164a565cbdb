"""/v1/recovery/* (getting back in without a passkey) and the signed-in user's recovery
settings: /v1/me/recovery-codes, /v1/me/email."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Request, Response, status

from passkey_api import errors
from passkey_api.api.dependencies import Client, CurrentSession, require_reauthentication
from passkey_api.recovery import by_code, by_link, email_address
from passkey_api.recovery.outcomes import Started
from passkey_api.recovery.schemas import (
    EmailOut,
    EmailVerificationSent,
    RecoveryCodeRequest,
    RecoveryCodes,
    RecoveryCodesStatus,
    RecoveryEmailAccepted,
    RecoveryEmailRequest,
    RecoveryLinkRequest,
    SetEmail,
)
from passkey_api.sessions.schemas import SessionOut, SignedIn
from passkey_api.sessions.service import ActiveSession
from passkey_api.users.schemas import UserOut
from passkey_api.web import throttle, transport
from passkey_api.web.openapi import problem_responses
from passkey_api.web.resources import DbDep, ResourcesDep

router = APIRouter(
    prefix="/v1/recovery",
    tags=["recovery"],
    responses=problem_responses(errors.RateLimited, errors.ValidationFailed),
)
me_router = APIRouter(
    prefix="/v1/me",
    tags=["recovery"],
    responses=problem_responses(errors.NotAuthenticated, errors.RateLimited),
)

# Recovery codes and the recovery address are ways into the account: changing them needs
# a fresh step-up for this purpose.
ManageRecovery = Annotated[ActiveSession, Depends(require_reauthentication("recovery"))]

ClientType = Annotated[
    str | None,
    Header(
        alias="X-Client-Type",
        description="`native` for apps: the session comes back as a bearer token, not a cookie.",
    ),
]

SAME_ANSWER = "If this address recovers an account, a link to recover it is on its way."


def _signed_in(
    started: Started, response: Response, resources: ResourcesDep, native: bool
) -> SignedIn:
    return SignedIn(
        user=UserOut.of(started.user),
        session=SessionOut.of(started.session),
        session_token=transport.hand_out(
            response,
            resources.settings,
            resources.secret_key,
            started.token,
            started.session.expires_at,
            native=native,
        ),
    )


@router.post(
    "/verify",
    responses=problem_responses(
        errors.RecoveryFailed, errors.InvalidUsername, errors.MailQueueFull, errors.RecoveryBusy
    ),
)
async def recover_with_code(
    body: RecoveryCodeRequest,
    response: Response,
    db: DbDep,
    resources: ResourcesDep,
    client: Client,
    client_type: ClientType = None,
) -> SignedIn:
    """Use one recovery code: a restricted session (`session.scope` = `recovery`, for
    PASSKEY_RECOVERY_SESSION_LIFETIME) that can only add a passkey. An unknown user, a
    wrong code and a used one all answer `recovery_failed`."""
    started = await by_code.redeem_code(
        db,
        resources.mailer,
        resources.settings,
        resources.secret_key,
        username=body.username,
        code=body.code,
        client=client,
        now=datetime.now(UTC),
    )
    return _signed_in(started, response, resources, transport.is_native(client_type))


@router.post(
    "/email",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(
        errors.EmailRecoveryDisabled, errors.InvalidEmail, errors.MailQueueFull
    ),
)
async def request_recovery_email(
    body: RecoveryEmailRequest,
    db: DbDep,
    resources: ResourcesDep,
    client: Client,
    background: BackgroundTasks,
) -> RecoveryEmailAccepted:
    """Mail a one-time recovery link (valid PASSKEY_RECOVERY_LINK_LIFETIME) to the address,
    if it recovers an account. The answer is the same either way, and comes before any
    message is made."""
    after_answer = await by_link.send_recovery_link(
        db,
        resources.links,
        resources.mailer,
        resources.settings,
        email=body.email,
        client=client,
        now=datetime.now(UTC),
    )
    background.add_task(after_answer)
    return RecoveryEmailAccepted(detail=SAME_ANSWER)


@router.post(
    "/email/verify",
    responses=problem_responses(
        errors.EmailRecoveryDisabled, errors.RecoveryLinkInvalid, errors.MailQueueFull
    ),
)
async def recover_with_link(
    body: RecoveryLinkRequest,
    response: Response,
    db: DbDep,
    resources: ResourcesDep,
    client: Client,
    client_type: ClientType = None,
) -> SignedIn:
    """Follow a recovery link (POST the token from its fragment): a restricted session,
    as with a recovery code. Single use."""
    started = await by_link.redeem_link(
        db,
        resources.links,
        resources.mailer,
        resources.settings,
        token=body.token,
        client=client,
        now=datetime.now(UTC),
    )
    return _signed_in(started, response, resources, transport.is_native(client_type))


@me_router.get("/recovery-codes")
async def recovery_codes_status(active: CurrentSession, db: DbDep) -> RecoveryCodesStatus:
    """How many recovery codes are left (never the codes)."""
    found = await by_code.codes_status(db, active.user)
    return RecoveryCodesStatus(
        remaining=found.remaining, total=found.total, generated_at=found.generated_at
    )


@me_router.post(
    "/recovery-codes",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        errors.ReauthenticationRequired, errors.MailQueueFull, errors.RecoveryBusy
    ),
)
async def generate_recovery_codes(
    active: ManageRecovery, db: DbDep, resources: ResourcesDep, client: Client
) -> RecoveryCodes:
    """A new set of 10 one-time codes, shown this once; the previous set stops working.
    Limited per account (PASSKEY_RATE_LIMIT_RECOVERY_CODES)."""
    await throttle.limit_codes(resources, account=str(active.user.id))
    now = datetime.now(UTC)
    new = await by_code.generate_codes(
        db,
        resources.mailer,
        resources.settings,
        active.user,
        client=client,
        now=now,
    )
    return RecoveryCodes(codes=new, generated_at=now)


@me_router.get("/email")
async def get_recovery_email(active: CurrentSession) -> EmailOut:
    return EmailOut.of(active.user)


@me_router.put(
    "/email",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(
        errors.ReauthenticationRequired,
        errors.EmailRecoveryDisabled,
        errors.InvalidEmail,
        errors.MailQueueFull,
    ),
)
async def set_recovery_email(
    body: SetEmail,
    active: ManageRecovery,
    db: DbDep,
    resources: ResourcesDep,
    client: Client,
    request: Request,
) -> EmailVerificationSent:
    """Mail a verification link to a new recovery address; it becomes the recovery
    address when the link is followed (POST /v1/me/email/verify), signed in. Counted per
    client IP, per account and per address (PASSKEY_RATE_LIMIT_MAIL_*)."""
    await throttle.limit_mail(resources, request, email=body.email, account=str(active.user.id))
    now = datetime.now(UTC)
    address = await email_address.start_email_change(
        db,
        resources.links,
        resources.mailer,
        resources.settings,
        active.user,
        email=body.email,
        client=client,
        now=now,
    )
    return EmailVerificationSent(
        email=address, expires_at=now + resources.settings.recovery_link_lifetime
    )


@me_router.post(
    "/email/verify",
    responses=problem_responses(
        errors.RecoveryLinkInvalid, errors.EmailTaken, errors.MailQueueFull
    ),
)
async def verify_recovery_email(
    body: RecoveryLinkRequest,
    active: CurrentSession,
    db: DbDep,
    resources: ResourcesDep,
    client: Client,
) -> EmailOut:
    """Follow the verification link (POST the token from its fragment); single use."""
    user = await email_address.confirm_email(
        db,
        resources.links,
        resources.mailer,
        resources.settings,
        active.user,
        token=body.token,
        client=client,
        now=datetime.now(UTC),
    )
    return EmailOut.of(user)


@me_router.delete(
    "/email",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(errors.ReauthenticationRequired, errors.MailQueueFull),
)
async def remove_recovery_email(
    active: ManageRecovery, db: DbDep, resources: ResourcesDep, client: Client
) -> None:
    """No recovery by email any more."""
    await email_address.remove_email(
        db, resources.mailer, resources.settings, active.user, client=client, now=datetime.now(UTC)
    )
