"""Native apps: the one-time code that /callback gave the app's redirect, exchanged with
its PKCE verifier for a session (POST /v1/oauth/exchange)."""

from __future__ import annotations

import hmac
import re
import uuid
from datetime import datetime

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import Settings
from passkey_api.errors import (
    AccountDisabled,
    ApiError,
    OAuthCodeInvalid,
    OAuthCodeVerifierMismatch,
)
from passkey_api.kit.client_info import ClientInfo
from passkey_api.oauth import flows
from passkey_api.oauth.signed_in import SignedIn, start_session
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.users import repository as users

CODE_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


async def exchange(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    *,
    code: str,
    code_verifier: str | None,
    secret_key: bytes,
    client: ClientInfo,
    now: datetime,
) -> SignedIn:
    """Turn a one-time code from the callback into a session (a bearer token)."""
    user_id: uuid.UUID | None = None
    try:
        entry = await flows.take_code(store, secret_key, code)
        if entry is None:
            raise OAuthCodeInvalid()
        user_id = uuid.UUID(entry.user_id)
        # Codes are only issued with the app's challenge (begin_sign_in); one without is
        # refused all the same.
        if not (
            entry.code_challenge is not None
            and code_verifier is not None
            and CODE_VERIFIER.match(code_verifier)
            and hmac.compare_digest(create_s256_code_challenge(code_verifier), entry.code_challenge)
        ):
            raise OAuthCodeVerifierMismatch()
        user = await users.get(db, user_id)
        if user is None:
            raise OAuthCodeInvalid()
        if user.disabled_at is not None:
            raise AccountDisabled()
        return await start_session(db, settings, user, entry.provider, client=client, now=now)
    except ApiError as exc:
        await audit.record_failure(
            db, "sign_in", user_id=user_id, client=client, now=now, code=exc.code
        )
        raise
