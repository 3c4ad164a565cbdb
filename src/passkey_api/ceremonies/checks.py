"""The checks py_webauthn 3 leaves to its caller, each raising its own precise error.

They run before py_webauthn's verification so that every refusal has a stable code, and
so that nothing py_webauthn is lenient about (base64url, crossOrigin, topOrigin, the
backup flags, the credential id inside authData) slips through. The binary structures
are decoded strictly in structures.py.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from passkey_api.ceremonies.structures import MAX_CREDENTIAL_ID_BYTES, AuthenticatorData
from passkey_api.errors import (
    ClientDataTypeMismatch,
    CredentialIdTooLong,
    CrossOriginRefused,
    InvalidCredential,
    MalformedClientData,
    OriginMismatch,
    RpIdMismatch,
    UserPresenceRequired,
    UserVerificationRequired,
)
from passkey_api.kit import base64url


@dataclass(frozen=True)
class ClientData:
    type: str
    challenge: bytes
    origin: str
    cross_origin: bool
    top_origin: str | None


def client_data(raw: bytes) -> ClientData:
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedClientData("clientDataJSON is not JSON.") from None
    if not isinstance(data, dict):
        raise MalformedClientData("clientDataJSON is not a JSON object.")
    kind, challenge, origin = data.get("type"), data.get("challenge"), data.get("origin")
    if not isinstance(kind, str) or not isinstance(challenge, str) or not isinstance(origin, str):
        raise MalformedClientData("clientDataJSON lacks type, challenge or origin.")
    try:
        challenge_bytes = base64url.decode(challenge)
    except ValueError:
        raise MalformedClientData("The challenge in clientDataJSON is not base64url.") from None
    cross_origin = data.get("crossOrigin", False)
    top_origin = data.get("topOrigin")
    if not isinstance(cross_origin, bool) or not isinstance(top_origin, str | None):
        raise MalformedClientData("crossOrigin or topOrigin has the wrong type.")
    return ClientData(kind, challenge_bytes, origin, cross_origin, top_origin)


def client_data_fits(data: ClientData, *, expected_type: str, origins: list[str]) -> None:
    if data.type != expected_type:
        raise ClientDataTypeMismatch(
            f"clientDataJSON.type is {data.type!r}, expected {expected_type!r}."
        )
    if data.origin not in origins:
        # Name the refused origin and the configured one it most resembles: origin setup
        # (a port, a scheme, an app's signing key) is where integrations usually go wrong.
        closest = difflib.get_close_matches(data.origin, origins, n=1, cutoff=0)
        hint = f" The closest allowed origin is {closest[0]!r}." if closest else ""
        raise OriginMismatch(
            f"Origin {data.origin[:200]!r} is not allowed for this service.{hint}",
            origin=data.origin[:200],
            closest_allowed_origin=closest[0] if closest else None,
        )
    # This service is not meant to run inside another site's iframe: refuse both forms.
    if data.cross_origin or data.top_origin is not None:
        raise CrossOriginRefused()


def credential_id_fits(credential_id: bytes, text_id: str) -> None:
    if len(credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise CredentialIdTooLong()
    if base64url.encode(credential_id) != text_id:
        raise InvalidCredential("The credential's id and rawId differ.")


def flags_fit(
    data: AuthenticatorData, *, rp_id: str, require_uv: bool, require_up: bool = True
) -> None:
    if data.rp_id_hash != hashlib.sha256(rp_id.encode()).digest():
        raise RpIdMismatch()
    if require_up and not data.up:
        raise UserPresenceRequired()
    if require_uv and not data.uv:
        raise UserVerificationRequired()
    # Backed up (BS) without being backup eligible (BE) is impossible for a real authenticator.
    if data.bs and not data.be:
        raise InvalidCredential("The authenticator reports a backup without backup eligibility.")
