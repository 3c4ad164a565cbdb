"""Forging a registration response the way a hostile client would: another credential
public key, bytes appended, keys duplicated. Only `none` attestation is forged here:
nothing signs its attestation object, so what the server refuses it refuses for the
structure alone."""

from __future__ import annotations

import copy
import struct
from typing import Any

import cbor2

from tests.softauthn import b64url, b64url_decode

AUTH_DATA_HEADER = 37  # rpIdHash, flags, signCount
FLAG_ED = 0x80


def cose(params: dict[Any, Any]) -> bytes:
    return cbor2.dumps(params)


def _attested_parts(auth_data: bytes) -> tuple[bytes, bytes, bytes]:
    """(everything before the COSE key, the COSE key, what follows it)."""
    (id_length,) = struct.unpack_from(">H", auth_data, AUTH_DATA_HEADER + 16)
    start = AUTH_DATA_HEADER + 18 + id_length
    key = cbor2.loads(auth_data[start:])
    length = len(cbor2.dumps(key, canonical=True))
    return auth_data[:start], auth_data[start : start + length], auth_data[start + length :]


def auth_data_of(credential: dict[str, Any]) -> bytes:
    obj = cbor2.loads(b64url_decode(credential["response"]["attestationObject"]))
    return bytes(obj["authData"])


def with_attestation_object(credential: dict[str, Any], raw: bytes) -> dict[str, Any]:
    forged = copy.deepcopy(credential)
    forged["response"]["attestationObject"] = b64url(raw)
    forged["response"].pop("authenticatorData", None)
    forged["response"].pop("publicKey", None)
    return forged


def with_auth_data(credential: dict[str, Any], auth_data: bytes) -> dict[str, Any]:
    obj = cbor2.loads(b64url_decode(credential["response"]["attestationObject"]))
    obj["authData"] = auth_data
    return with_attestation_object(credential, cbor2.dumps(obj))


def with_key(credential: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The registration with its credential public key replaced by `key` (any bytes)."""
    head, _, tail = _attested_parts(auth_data_of(credential))
    return with_auth_data(credential, head + key + tail)


def with_extensions(credential: dict[str, Any], extensions: bytes) -> dict[str, Any]:
    """The ED flag set and `extensions` (any bytes) after the credential public key."""
    auth_data = bytearray(auth_data_of(credential))
    auth_data[32] |= FLAG_ED
    return with_auth_data(credential, bytes(auth_data) + extensions)


def map_bytes(*pairs: tuple[bytes, bytes]) -> bytes:
    """A CBOR map written by hand from encoded keys and values, so that it can hold what
    no encoder writes (a key twice, say)."""
    assert len(pairs) < 24
    return bytes([0xA0 + len(pairs)]) + b"".join(k + v for k, v in pairs)
