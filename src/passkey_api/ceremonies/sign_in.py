"""Sign-in (WebAuthn Level 3, section 7.2): a new session for the passkey's account,
its use and the session written all or none (repository.record_sign_in).

In a ceremony bound to a username, nothing about a passkey is told before its signature
verified (assertion.py); an unknown username gets decoy credentials (decoys.py). Every
refusal is audited, with the account when it is known."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from passkey_api.audit import service as audit
from passkey_api.authenticators.service import MetadataService
from passkey_api.ceremonies import checks, decoys, repository, steps
from passkey_api.ceremonies.options import Descriptor, request_options
from passkey_api.ceremonies.schemas import AuthenticationOptionsRequest, AuthenticationResponseJSON
from passkey_api.ceremonies.steps import PendingCeremony, SignedIn
from passkey_api.config import Settings
from passkey_api.errors import AccountDisabled, ApiError, InvalidUsername
from passkey_api.kit.client_info import ClientInfo
from passkey_api.passkeys import repository as passkeys
from passkey_api.passkeys import service as passkey_service
from passkey_api.sessions import service as sessions
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.db import Databases
from passkey_api.users import names
from passkey_api.users import repository as users


async def options(
    databases: Databases,
    store: ChallengeStore,
    settings: Settings,
    request: AuthenticationOptionsRequest,
    decoy_seed: bytes,
) -> dict[str, Any]:
    allow: list[Descriptor] = []
    user_id: str | None = None
    if request.username is not None:
        if not request.username.strip():
            # No account can have it, so saying so tells nothing about any account.
            raise InvalidUsername("The username is empty.")
        async with databases.session() as db:
            try:
                _, username_key = names.normalize(request.username)
                user = await users.get_by_username_key(db, username_key)
            except ApiError:
                username_key, user = request.username, None  # an impossible name is unknown
            # The same queries whether or not the name exists, so timing does not tell.
            allow = await passkeys.descriptors_of(db, user.id if user else uuid.uuid4())
        if user is not None and allow:
            user_id = str(user.id)
        else:
            # Unknown names get stable, plausible credentials so that the answer does not
            # tell whether the account exists, and a ceremony bound to no account, so that
            # verify refuses every credential exactly as it would for a real user's.
            allow = decoys.descriptors(decoy_seed, username_key)
            user_id = str(uuid.uuid4())
    challenge = await steps.begin(
        store,
        settings,
        PendingCeremony(
            ceremony="authentication",
            user_verification=settings.user_verification,
            user_id=user_id,
        ),
    )
    return request_options(
        settings,
        challenge=challenge,
        allow=allow,
        hints=list(request.hints),
        user_verification=settings.user_verification,
    )


@steps.counted("authentication")
async def verify(
    databases: Databases,
    store: ChallengeStore,
    settings: Settings,
    credential: AuthenticationResponseJSON,
    *,
    decoy_seed: bytes,
    client: ClientInfo,
    now: datetime,
    metadata: MetadataService | None = None,
) -> SignedIn:
    """Verify an assertion, record the passkey's use and start a session, all or none
    (repository.record_sign_in)."""
    user_id: uuid.UUID | None = None
    try:
        client_data = checks.client_data(credential.response.clientDataJSON)
        try:
            # What the response says of itself, checked before anything is read for it.
            steps.check_response(settings, credential, client_data)
        except ApiError:
            # The challenge still decides first, and is consumed whatever follows.
            user_id = _user_id(await steps.take(store, client_data.challenge, "authentication"))
            raise
        pending, found = await steps.take_while(
            store,
            client_data.challenge,
            "authentication",
            passkeys.get_with_user(databases, credential.rawId),
        )
        user_id = _user_id(pending)
        if found is not None:
            user_id = found[1].id  # failures from here on show in its activity
        passkey, user, asserted = steps.verify_assertion(
            settings, credential, client_data, pending, found, decoy_seed
        )
        if user.disabled_at is not None:
            raise AccountDisabled()
        if settings.compromised_authenticators == "refuse":  # authentic from here on
            steps.refuse_compromised(metadata, passkey)
        token, session = sessions.new(
            user=user,
            user_verified=asserted.user_verified,
            client=client,
            lifetimes=settings.session_lifetimes,
            now=now,
            stepped_up=steps.steps_up(asserted.user_verified, passkey),
        )
        # SignCountRegression when a concurrent sign-in used a newer counter value.
        credential_ids = await repository.record_sign_in(
            databases,
            passkey_id=passkey.id,
            sign_count=asserted.sign_count,
            backup_state=asserted.backup_state,
            user_verified=asserted.user_verified,
            session=session,
            event=steps.signed_in_event("sign_in", user, passkey, client, now),
        )
        signals = passkey_service.signals(settings.rp_id, user, credential_ids)
        return SignedIn(user=user, session=session, token=token, signals=signals)
    except ApiError as exc:
        async with databases.session() as db:
            await audit.record_failure(
                db, "sign_in", user_id=user_id, client=client, now=now, code=exc.code
            )
        raise


def _user_id(pending: PendingCeremony) -> uuid.UUID | None:
    """The account the ceremony was started for, if any."""
    return uuid.UUID(pending.user_id) if pending.user_id else None
