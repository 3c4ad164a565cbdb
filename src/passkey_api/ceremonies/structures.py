"""The binary structures of a ceremony, decoded once, strictly, before anything else reads
them: the attestation object (WebAuthn L3 §6.5) and authenticator data (§6.1), with the
credential public key held to cose.py's profiles.

py_webauthn's own parsers are lenient (bytes after the CBOR, duplicate or extra keys, a
re-encoded public key stored instead of the one the authenticator signed): everything
they would let through is refused here with `malformed_attestation`,
`malformed_authenticator_data`, `invalid_public_key` or `unsupported_algorithm`, so
py_webauthn only ever sees structures that mean one thing, and what is stored is the
exact slice the authenticator signed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from passkey_api.errors import (
    CredentialIdTooLong,
    InvalidPublicKey,
    MalformedAttestation,
    MalformedAuthenticatorData,
    UnsupportedAlgorithm,
)
from passkey_api.kit import cbor, cose

MAX_CREDENTIAL_ID_BYTES = 1023

# Flag bits (§6.1)
UP, UV, BE, BS, AT, ED = 0x01, 0x04, 0x08, 0x10, 0x40, 0x80

_HEADER = struct.Struct(">32sBI")  # rpIdHash, flags, signCount
_ATTESTED_HEADER = struct.Struct(">16sH")  # aaguid, credentialIdLength


@dataclass(frozen=True)
class AttestedCredential:
    aaguid: bytes
    credential_id: bytes
    # The exact bytes of the COSE_Key in the authenticator data: what is stored.
    public_key: bytes
    key: cose.CoseKey


@dataclass(frozen=True)
class AuthenticatorData:
    rp_id_hash: bytes
    flags: int
    sign_count: int
    attested: AttestedCredential | None
    extensions: dict[str, Any] | None

    @property
    def up(self) -> bool:
        return bool(self.flags & UP)

    @property
    def uv(self) -> bool:
        return bool(self.flags & UV)

    @property
    def be(self) -> bool:
        return bool(self.flags & BE)

    @property
    def bs(self) -> bool:
        return bool(self.flags & BS)


@dataclass(frozen=True)
class AttestationObject:
    fmt: str
    att_stmt: dict[str, Any]
    auth_data: AuthenticatorData
    raw_auth_data: bytes


def authenticator_data(raw: bytes, *, registration: bool) -> AuthenticatorData:
    """Authenticator data whose length is exactly what its flags announce. Registration
    must carry attested credential data (AT); an assertion never does (§6.3.3)."""
    if len(raw) < _HEADER.size:
        raise MalformedAuthenticatorData("Authenticator data is shorter than 37 bytes.")
    rp_id_hash, flags, sign_count = _HEADER.unpack_from(raw)
    offset = _HEADER.size
    attested = None
    if bool(flags & AT) != registration:
        raise MalformedAuthenticatorData(
            "A registration must carry attested credential data (AT), an assertion must not."
        )
    if flags & AT:
        attested, offset = _attested(raw, offset)
    extensions = None
    if flags & ED:
        try:
            value, used = cbor.decode_prefix(memoryview(raw)[offset:])
        except cbor.CborError as exc:
            raise MalformedAuthenticatorData(f"The extensions are not CBOR: {exc}") from None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise MalformedAuthenticatorData("The extensions are not a map of names.")
        extensions, offset = value, offset + used
    if offset != len(raw):
        raise MalformedAuthenticatorData(
            f"{len(raw) - offset} bytes follow what the authenticator data's flags announce."
        )
    return AuthenticatorData(rp_id_hash, flags, sign_count, attested, extensions)


def _attested(raw: bytes, offset: int) -> tuple[AttestedCredential, int]:
    if len(raw) < offset + _ATTESTED_HEADER.size:
        raise MalformedAuthenticatorData("The attested credential data is cut short.")
    aaguid, id_length = _ATTESTED_HEADER.unpack_from(raw, offset)
    offset += _ATTESTED_HEADER.size
    if id_length > MAX_CREDENTIAL_ID_BYTES:
        raise CredentialIdTooLong()
    if id_length == 0 or len(raw) < offset + id_length:
        raise MalformedAuthenticatorData("The credential id is empty or cut short.")
    credential_id = raw[offset : offset + id_length]
    offset += id_length
    try:
        value, used = cbor.decode_prefix(memoryview(raw)[offset:])
    except cbor.CborError as exc:
        raise InvalidPublicKey(f"The credential public key is not CBOR: {exc}") from None
    try:
        key = cose.parse(value)
    except cose.KeyRefused as exc:
        if exc.unsupported:
            raise UnsupportedAlgorithm(str(exc)) from None
        raise InvalidPublicKey(str(exc)) from None
    public_key = raw[offset : offset + used]
    return AttestedCredential(aaguid, credential_id, public_key, key), offset + used


_ATTESTATION_KEYS = frozenset({"fmt", "attStmt", "authData"})


def attestation_object(raw: bytes) -> AttestationObject:
    """{fmt: text, attStmt: map, authData: bytes} and nothing else, one CBOR item."""
    try:
        value = cbor.decode(raw)
    except cbor.CborError as exc:
        raise MalformedAttestation(f"The attestation object is not one CBOR item: {exc}") from None
    if not isinstance(value, dict) or set(value) != _ATTESTATION_KEYS:
        raise MalformedAttestation("The attestation object must hold fmt, attStmt and authData.")
    fmt, att_stmt, auth_data = value["fmt"], value["attStmt"], value["authData"]
    if not (isinstance(fmt, str) and isinstance(att_stmt, dict) and isinstance(auth_data, bytes)):
        raise MalformedAttestation("fmt must be text, attStmt a map and authData bytes.")
    if not all(isinstance(k, str) for k in att_stmt):
        raise MalformedAttestation("attStmt's keys must be text.")
    if fmt == "none" and att_stmt:
        raise MalformedAttestation("A 'none' attestation has an empty attStmt (§8.7).")
    return AttestationObject(
        fmt, att_stmt, authenticator_data(auth_data, registration=True), auth_data
    )
