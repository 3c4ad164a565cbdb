"""Sign-up (WebAuthn Level 3, section 7.1): a new account, its first passkey and its
first session, written all or none (repository.record_sign_up)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from passkey_api.authenticators.service import MetadataService
from passkey_api.ceremonies import attestation, checks, repository, steps
from passkey_api.ceremonies.options import creation_options
from passkey_api.ceremonies.schemas import RegistrationOptionsRequest, RegistrationResponseJSON
from passkey_api.ceremonies.steps import PendingCeremony, SignedIn
from passkey_api.config import Settings
from passkey_api.errors import UsernameTaken
from passkey_api.kit import base64url
from passkey_api.kit.client_info import ClientInfo
from passkey_api.passkeys import service as passkey_service
from passkey_api.sessions import service as sessions
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.db import Databases, model_from
from passkey_api.storage.models import User
from passkey_api.users import names
from passkey_api.users import repository as users

USER_HANDLE_BYTES = 32


async def options(
    databases: Databases,
    store: ChallengeStore,
    settings: Settings,
    request: RegistrationOptionsRequest,
) -> dict[str, Any]:
    username, username_key = names.normalize(request.username)
    if await users.username_exists(databases, username_key):
        raise UsernameTaken()
    display_name = (request.display_name or "").strip() or username
    user_handle = secrets.token_bytes(USER_HANDLE_BYTES)
    challenge = await steps.begin(
        store,
        settings,
        PendingCeremony(
            ceremony="registration",
            user_verification=settings.user_verification,
            username=username,
            username_key=username_key,
            display_name=display_name,
            user_handle=base64url.encode(user_handle),
        ),
    )
    return creation_options(
        settings,
        challenge=challenge,
        user_handle=user_handle,
        username=username,
        display_name=display_name,
        attachment=request.attachment,
        hints=list(request.hints),
        exclude=[],
    )


@steps.counted("registration")
async def verify(
    databases: Databases,
    store: ChallengeStore,
    settings: Settings,
    credential: RegistrationResponseJSON,
    *,
    decoy_seed: bytes,
    client: ClientInfo,
    now: datetime,
    metadata: MetadataService | None = None,
) -> SignedIn:
    """Verify a registration; create the account, its passkey and a session, all or none
    (repository.record_sign_up)."""
    client_data = checks.client_data(credential.response.clientDataJSON)
    pending = await steps.take(store, client_data.challenge, "registration")
    verified = attestation.verify(
        settings,
        credential,
        client_data,
        require_uv=pending.user_verification == "required",
        metadata=metadata,
    )
    steps.refuse_decoy(decoy_seed, verified.credential_id)
    # A registration challenge always carries these (see options()).
    assert pending.username is not None
    assert pending.username_key is not None
    assert pending.user_handle is not None
    user = model_from(
        User,
        id=uuid.uuid4(),
        username=pending.username,
        username_key=pending.username_key,
        display_name=pending.display_name or pending.username,
        user_handle=base64url.decode(pending.user_handle),
        created_at=now,
        roles=["user"],
    )
    passkey = steps.new_passkey(user, verified, credential.authenticatorAttachment, client, now)
    token, session = sessions.new(
        user=user,
        user_verified=verified.user_verified,
        client=client,
        lifetimes=settings.session_lifetimes,
        now=now,
        stepped_up=steps.steps_up(verified.user_verified, passkey),
    )
    # UsernameTaken or CredentialExists from the UNIQUE constraints, in the same write.
    await repository.record_sign_up(
        databases,
        user=user,
        passkey=passkey,
        session=session,
        event=steps.signed_in_event("sign_up", user, passkey, client, now),
    )
    signals = passkey_service.signals(settings.rp_id, user, [passkey.credential_id])
    return SignedIn(user=user, session=session, token=token, signals=signals)
