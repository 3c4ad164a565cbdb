"""Verifying a registration response (WebAuthn 7.1) into a credential to store. No I/O."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from webauthn import verify_registration_response
from webauthn.helpers.structs import (
    AttestationFormat,
    AuthenticatorAttestationResponse,
    RegistrationCredential,
)

from passkey_api.ceremonies import checks, options, structures
from passkey_api.ceremonies.checks import ClientData
from passkey_api.ceremonies.schemas import RegistrationResponseJSON
from passkey_api.config import Settings
from passkey_api.errors import InvalidCredential

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    attestation_format: str
    transports: list[str]
    backup_eligible: bool
    backup_state: bool
    discoverable: bool | None
    user_verified: bool


def verify(
    settings: Settings,
    credential: RegistrationResponseJSON,
    client_data: ClientData,
    *,
    require_uv: bool,
    require_up: bool = True,
) -> NewCredential:
    """require_up=False only for a conditional create (WebAuthn Level 3, 7.1 step 14: user
    presence is checked unless the options asked for conditional mediation)."""
    response = credential.response
    checks.client_data_fits(
        client_data, expected_type="webauthn.create", origins=settings.allowed_origins
    )
    checks.credential_id_fits(credential.rawId, credential.id)
    # Decoded strictly first: py_webauthn below sees only a structure that means one thing,
    # and the key stored is the one validated here, byte for byte.
    auth_data = structures.attestation_object(response.attestationObject).auth_data
    checks.flags_fit(auth_data, rp_id=settings.rp_id, require_uv=require_uv, require_up=require_up)
    attested = auth_data.attested
    assert attested is not None  # a registration's authenticator data must carry it
    if attested.credential_id != credential.rawId:
        raise InvalidCredential("The attested credential id differs from rawId.")

    try:
        verified = verify_registration_response(
            credential=RegistrationCredential(
                id=credential.id,
                raw_id=credential.rawId,
                response=AuthenticatorAttestationResponse(
                    client_data_json=response.clientDataJSON,
                    attestation_object=response.attestationObject,
                ),
            ),
            expected_challenge=client_data.challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.allowed_origins,
            require_user_presence=require_up,
            require_user_verification=require_uv,
            supported_pub_key_algs=options.ALGORITHMS,
        )
    except Exception as exc:  # py_webauthn raises several families; all mean "did not verify"
        log.info("registration did not verify: %s", type(exc).__name__)
        raise InvalidCredential() from None

    return NewCredential(
        credential_id=attested.credential_id,
        public_key=attested.public_key,
        sign_count=auth_data.sign_count,
        aaguid=verified.aaguid,
        attestation_format=AttestationFormat(verified.fmt).value,
        transports=sorted({t for t in response.transports if t in options.KNOWN_TRANSPORTS}),
        backup_eligible=auth_data.be,
        backup_state=auth_data.bs,
        discoverable=_discoverable(credential.clientExtensionResults),
        user_verified=verified.user_verified,
    )


def _discoverable(extension_results: dict[str, Any]) -> bool | None:
    """credProps.rk: True/False when the browser says, None when it does not."""
    cred_props = extension_results.get("credProps")
    if isinstance(cred_props, dict) and isinstance(cred_props.get("rk"), bool):
        return bool(cred_props["rk"])
    return None
