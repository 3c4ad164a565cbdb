"""Verifying an authentication response (WebAuthn 7.2) against a stored passkey. No I/O.

The order of the checks is part of the security: what does not depend on the passkey
(the structure, the RP ID hash, user presence) is refused first; then, in a ceremony
bound to one account (a username's sign-in options, a step-up), a credential that is
unknown, not the account's, or the decoy of an unknown username is refused exactly as a
bad signature is; everything that would tell something about a real passkey (its user
handle, its backup eligibility, its counter, whether it verifies users) is looked at only
once the signature proved the response authentic.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn import verify_authentication_response
from webauthn.helpers.structs import AuthenticationCredential, AuthenticatorAssertionResponse

from passkey_api.ceremonies import checks, structures
from passkey_api.ceremonies.checks import ClientData
from passkey_api.ceremonies.schemas import AuthenticationResponseJSON
from passkey_api.config import Settings
from passkey_api.errors import (
    BackupEligibilityChanged,
    InvalidCredential,
    SignCountRegression,
    UnknownCredential,
    UntrustedPublicKey,
    UserHandleMismatch,
    UserHandleMissing,
    UserVerificationRequired,
)
from passkey_api.kit import cose
from passkey_api.storage.models import Passkey, User

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
    found: tuple[Passkey, User] | None,
    *,
    decoy: bool = False,
    expected_user_id: str | None,
    require_uv: bool,
    require_uv_if_capable: bool = False,
) -> tuple[Passkey, User, Asserted]:
    """`found` is the stored passkey of the response's credential id and its user, None
    when there is none. `expected_user_id` is the account the ceremony was started for,
    None when the authenticator chose it (discoverable sign-in). `decoy`: the unknown
    credential id is one this service listed for an unknown username (decoys.py), so it
    must pass for a real one with a bad signature, in any ceremony.
    `require_uv_if_capable`: UV is demanded of a passkey that verified its user once (a
    step-up; see ceremonies/step_up.py options)."""
    response = credential.response
    auth_data = structures.authenticator_data(response.authenticatorData, registration=False)
    checks.flags_fit(auth_data, rp_id=settings.rp_id, require_uv=require_uv)

    if found is None and expected_user_id is None and not decoy:
        raise UnknownCredential(
            # What the SPA hands to PublicKeyCredential.signalUnknownCredential().
            signal_unknown_credential={"rpId": settings.rp_id, "credentialId": credential.id}
        )
    if found is None or (
        expected_user_id is not None and str(found[0].user_id) != expected_user_id
    ):
        # Unknown, another account's, or an unknown username's decoy: as a bad signature,
        # and after as much work as one, so that the time taken does not tell either.
        _signature_verifies(settings, credential, client_data, _STAND_IN_KEY, require_uv)
        log.info("authentication did not verify: credential not on the ceremony's list")
        raise InvalidCredential()
    passkey, user = found

    try:
        cose.load_stored(passkey.public_key)
    except cose.KeyRefused as exc:
        log.warning("passkey %s has a stored key outside the profiles: %s", passkey.id, exc)
        if expected_user_id is not None:
            # Said plainly only where no username was asked about (discoverable sign-in).
            _signature_verifies(settings, credential, client_data, _STAND_IN_KEY, require_uv)
            raise InvalidCredential() from None
        raise UntrustedPublicKey(
            "This passkey's key does not meet the service's key rules: sign in another way "
            "and remove it."
        ) from None

    if not _signature_verifies(settings, credential, client_data, passkey.public_key, require_uv):
        raise InvalidCredential()

    # Authentic from here on: precise answers tell an attacker nothing new.
    if response.userHandle is not None:
        if not hmac.compare_digest(response.userHandle, user.user_handle):
            raise UserHandleMismatch()
    elif expected_user_id is None:
        # A discoverable sign-in must name its user (WebAuthn 7.2 step 6).
        raise UserHandleMissing()
    if require_uv_if_capable and passkey.user_verified and not auth_data.uv:
        raise UserVerificationRequired()
    if auth_data.be != passkey.backup_eligible:
        raise BackupEligibilityChanged()
    new_count, stored = auth_data.sign_count, passkey.sign_count
    if (new_count or stored) and new_count <= stored:
        raise SignCountRegression()
    return (
        passkey,
        user,
        Asserted(sign_count=new_count, backup_state=auth_data.bs, user_verified=auth_data.uv),
    )


def _signature_verifies(
    settings: Settings,
    credential: AuthenticationResponseJSON,
    client_data: ClientData,
    public_key: bytes,
    require_uv: bool,
) -> bool:
    response = credential.response
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
            credential_public_key=public_key,
            # The counter is checked after the signature, with its own code.
            credential_current_sign_count=0,
            require_user_verification=require_uv,
        )
    except Exception as exc:
        log.info("authentication did not verify: %s", type(exc).__name__)
        return False
    return True


def _stand_in_key() -> bytes:
    """A P-256 COSE key nobody holds the private half of (it is dropped here)."""
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return cbor2.dumps(
        {1: 2, 3: cose.ES256, -1: 1, -2: numbers.x.to_bytes(32), -3: numbers.y.to_bytes(32)}
    )


_STAND_IN_KEY = _stand_in_key()
