"""Verifying an authentication response (WebAuthn 7.2) against a stored passkey. No I/O."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from webauthn import verify_authentication_response
from webauthn.helpers.structs import AuthenticationCredential, AuthenticatorAssertionResponse

from passkey_api.ceremonies import checks
from passkey_api.ceremonies.checks import ClientData
from passkey_api.ceremonies.schemas import AuthenticationResponseJSON
from passkey_api.config import Settings
from passkey_api.errors import (
    BackupEligibilityChanged,
    CredentialNotAllowed,
    InvalidCredential,
    SignCountRegression,
    UserHandleMismatch,
    UserHandleMissing,
)
from passkey_api.models import Passkey, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asserted:
    sign_count: int
    backup_state: bool
    user_verified: bool


def verify(
    settings: Settings,
    credential: AuthenticationResponseJSON,
    client_data: ClientData,
    passkey: Passkey,
    user: User,
    *,
    expected_user_id: str | None,
    require_uv: bool,
) -> Asserted:
    """`expected_user_id` is the account the ceremony was started for, None when the
    authenticator chose it (discoverable sign-in)."""
    response = credential.response
    if expected_user_id is not None and str(passkey.user_id) != expected_user_id:
        raise CredentialNotAllowed()
    if response.userHandle is not None:
        if not hmac.compare_digest(response.userHandle, user.user_handle):
            raise UserHandleMismatch()
    elif expected_user_id is None:
        # A discoverable sign-in must name its user (WebAuthn 7.2 step 6).
        raise UserHandleMissing()

    auth_data = checks.authenticator_data(response.authenticatorData)
    checks.flags_fit(auth_data, rp_id=settings.rp_id, require_uv=require_uv)
    if auth_data.flags.be != passkey.backup_eligible:
        raise BackupEligibilityChanged()

    try:
        verify_authentication_response(
            credential=AuthenticationCredential(
                id=credential.id,
                raw_id=credential.rawId,
                response=AuthenticatorAssertionResponse(
                    client_data_json=response.clientDataJSON,
                    authenticator_data=response.authenticatorData,
                    signature=response.signature,
                    user_handle=response.userHandle,
                ),
            ),
            expected_challenge=client_data.challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.allowed_origins,
            credential_public_key=passkey.public_key,
            # The counter is checked below, after the signature, with its own code.
            credential_current_sign_count=0,
            require_user_verification=require_uv,
        )
    except Exception as exc:
        log.info("authentication did not verify: %s", type(exc).__name__)
        raise InvalidCredential() from None

    new_count, stored = auth_data.sign_count, passkey.sign_count
    if (new_count or stored) and new_count <= stored:
        raise SignCountRegression()
    return Asserted(
        sign_count=new_count, backup_state=auth_data.flags.bs, user_verified=auth_data.flags.uv
    )
