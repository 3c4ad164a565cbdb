"""The one place where WebAuthn options are built: py_webauthn's options, then what it has
no parameter for (hints on sign-in, the credProps extension) added to the JSON form."""

from __future__ import annotations

from typing import Any

from webauthn import generate_authentication_options, generate_registration_options
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.options_to_json_dict import options_to_json_dict
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from passkey_api.config import Settings
from passkey_api.kit import cose

# Ed25519, ES256, RS256: every platform authenticator and security key has one of them.
# Offered in cose.py's order of preference, and only what cose.py has a key profile for.
ALGORITHMS = [COSEAlgorithmIdentifier(alg) for alg in cose.ALGORITHMS]
KNOWN_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)

Descriptor = tuple[bytes, list[str]]


def _descriptors(credentials: list[Descriptor]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=credential_id,
            transports=[AuthenticatorTransport(t) for t in transports if t in KNOWN_TRANSPORTS],
        )
        for credential_id, transports in credentials
    ]


def creation_options(
    settings: Settings,
    *,
    challenge: bytes,
    user_handle: bytes,
    username: str,
    display_name: str,
    attachment: str | None,
    hints: list[str],
    exclude: list[Descriptor],
) -> dict[str, Any]:
    options = generate_registration_options(
        rp_id=settings.rp_id,
        rp_name=settings.rp_name,
        user_name=username,
        user_id=user_handle,
        user_display_name=display_name,
        challenge=challenge,
        timeout=settings.ceremony_timeout_ms,
        # "direct" only when asked (PASSKEY_ATTESTATION): the attestation is verified
        # against the metadata then (attestation.py); browsers may ask the user first.
        attestation=AttestationConveyancePreference(settings.attestation),
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment(attachment) if attachment else None,
            # "preferred", not "required": a U2F-only key cannot store a discoverable
            # credential, and username-first sign-in serves it instead.
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement(settings.user_verification),
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=ALGORITHMS,
    )
    data = options_to_json_dict(options)
    # credProps tells us whether the authenticator made a discoverable credential.
    data["extensions"] = {"credProps": True}
    data["hints"] = list(hints)
    return data


def request_options(
    settings: Settings,
    *,
    challenge: bytes,
    allow: list[Descriptor],
    hints: list[str],
    user_verification: str,
) -> dict[str, Any]:
    options = generate_authentication_options(
        rp_id=settings.rp_id,
        challenge=challenge,
        timeout=settings.ceremony_timeout_ms,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement(user_verification),
    )
    data = options_to_json_dict(options)
    data["hints"] = list(hints)
    return data
