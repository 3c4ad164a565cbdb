"""A software WebAuthn authenticator and client for tests and benchmarks.

It answers server-issued PublicKeyCredential{Creation,Request}OptionsJSON with the
WebAuthn Level 3 JSON a browser's ``credential.toJSON()`` produces: binary fields are
base64url without padding, authenticator data and attestation objects are real CBOR,
and every signature is real (``cryptography``), so a relying party verifies it exactly
as it would a hardware authenticator's. Keyword overrides on ``create``/``get`` let a
test forge individual fields (RP ID hash, origin, counter, flags, ...) one at a time.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

ES256 = -7
EDDSA = -8
RS256 = -257
SUPPORTED_ALGS = (ES256, EDDSA, RS256)
ATTESTATION_FORMATS = ("none", "packed", "fido-u2f")

# Authenticator data flag bits (WebAuthn §6.1).
FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def b64url(data: bytes) -> str:
    """Base64url without padding, as WebAuthn's JSON forms use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(s: str) -> bytes:
    """Decode base64url with or without padding; reject characters outside the alphabet."""
    stripped = s.rstrip("=")
    return base64.b64decode(stripped + "=" * (-len(stripped) % 4), altchars=b"-_", validate=True)


def tamper(b64: str) -> str:
    """Flip the lowest bit of the last decoded byte and re-encode.

    The last byte is used because it keeps DER (ES256 signatures) well-formed, so the
    verifier fails on the signature maths rather than on parsing.
    """
    raw = bytearray(b64url_decode(b64))
    if not raw:
        raise ValueError("nothing to tamper with")
    raw[-1] ^= 0x01
    return b64url(bytes(raw))


def _int_bytes(n: int, length: int | None = None) -> bytes:
    size = length if length is not None else max(1, (n.bit_length() + 7) // 8)
    return n.to_bytes(size, "big")


def _new_private_key(alg: int) -> PrivateKey:
    if alg == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if alg == EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    if alg == RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported COSE alg {alg}")


def _sign(key: PrivateKey, data: bytes) -> bytes:
    # ES256 signatures are DER (what authenticators send), EdDSA raw 64 bytes, RS256 PKCS#1 v1.5.
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _host(origin: str) -> str:
    # A browser's default RP ID is the origin's effective domain.
    host = urlsplit(origin).hostname
    if not host:
        raise ValueError(f"origin {origin!r} has no host")
    return host


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: PrivateKey
    alg: int
    rp_id: str
    user_handle: bytes | None  # None: non-discoverable (e.g. U2F), assertions carry no userHandle
    sign_count: int

    def cose_public_key(self) -> bytes:
        """The credential public key as a COSE_Key (CTAP2 canonical CBOR)."""
        key = self.private_key
        cose: dict[int, int | bytes]
        if isinstance(key, ec.EllipticCurvePrivateKey):
            nums = key.public_key().public_numbers()
            cose = {
                1: 2,
                3: self.alg,
                -1: 1,
                -2: _int_bytes(nums.x, 32),
                -3: _int_bytes(nums.y, 32),
            }
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            raw = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            cose = {1: 1, 3: self.alg, -1: 6, -2: raw}
        else:
            rsa_nums = key.public_key().public_numbers()
            cose = {1: 3, 3: self.alg, -1: _int_bytes(rsa_nums.n), -2: _int_bytes(rsa_nums.e)}
        return cbor2.dumps(cose, canonical=True)

    def public_key_spki(self) -> bytes:
        """DER SubjectPublicKeyInfo, what ``getPublicKey()`` returns in a browser."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes) -> bytes:
        return _sign(self.private_key, data)


class SoftAuthenticator:
    """One authenticator (plus the browser-side client logic in front of it)."""

    def __init__(
        self,
        *,
        alg: int = ES256,
        aaguid: bytes = bytes(16),
        discoverable: bool = True,
        user_verifying: bool = True,
        backup_eligible: bool = False,
        backup_state: bool = False,
        counter_step: int = 1,
        attestation: str = "none",
        transports: Sequence[str] = ("internal",),
        attachment: str | None = "platform",
        credential_id_length: int = 32,
        attestation_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
        attestation_chain: Sequence[bytes] = (),
    ) -> None:
        """``attestation_key`` and ``attestation_chain`` (DER, the attestation certificate
        first, as x5c) make ``packed`` full (basic) attestation instead of self
        attestation, and sign ``fido-u2f`` with that certificate instead of a self-signed
        one of the authenticator's own (its chain is that one certificate)."""
        if alg not in SUPPORTED_ALGS:
            raise ValueError(f"unsupported COSE alg {alg}")
        if attestation not in ATTESTATION_FORMATS:
            raise ValueError(f"unsupported attestation format {attestation!r}")
        if len(aaguid) != 16:
            raise ValueError("aaguid must be 16 bytes")
        if attestation == "fido-u2f" and (alg != ES256 or aaguid != bytes(16)):
            # U2F only knows P-256 keys and has no AAGUID; verifiers check both.
            raise ValueError("fido-u2f attestation needs alg=-7 and an all-zero aaguid")
        # WebAuthn caps ids at 1023 bytes; allow up to the 2-byte length field so tests
        # can probe a server's limit.
        if not 1 <= credential_id_length <= 0xFFFF:
            raise ValueError("credential_id_length must be 1..65535")
        self.alg = alg
        self.aaguid = aaguid
        self.discoverable = discoverable
        self.user_verifying = user_verifying
        self.backup_eligible = backup_eligible
        self.backup_state = backup_state
        self.counter_step = counter_step
        self.attestation = attestation
        self.transports = list(transports)
        self.attachment = attachment
        self.credential_id_length = credential_id_length
        self.credentials: dict[bytes, SoftCredential] = {}
        if (attestation_key is None) != (not attestation_chain):
            raise ValueError("attestation_key and attestation_chain go together")
        if attestation == "fido-u2f" and len(attestation_chain) > 1:
            raise ValueError("a fido-u2f statement carries exactly one certificate")
        self.attestation_key = attestation_key
        self.attestation_chain = list(attestation_chain)
        self._u2f_key: ec.EllipticCurvePrivateKey | None = None
        self._u2f_cert: bytes | None = None

    # -- registration ------------------------------------------------------------------

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        cross_origin: bool | None = None,
        top_origin: str | None = None,
        client_data_type: str = "webauthn.create",
        challenge: str | None = None,
        cred_props: bool = True,
        credential_id: bytes | None = None,
        user_present: bool = True,
    ) -> dict[str, Any]:
        """Answer PublicKeyCredentialCreationOptionsJSON with a RegistrationResponseJSON.

        ``user_present=False`` answers as a conditional create may: without the UP flag.

        ``rp_id`` only changes the hashed RP ID (to forge a mismatch); the credential is
        stored under the options' RP ID, as the browser would see it.
        """
        options_rp_id: str = options.get("rp", {}).get("id") or _host(origin)
        for excluded in options.get("excludeCredentials") or []:
            if b64url_decode(excluded["id"]) in self.credentials:
                raise ValueError("InvalidStateError")
        # Browsers default an empty pubKeyCredParams to ES256 + RS256 (WebAuthn §5.1.3 step 10).
        params = options.get("pubKeyCredParams") or [
            {"type": "public-key", "alg": ES256},
            {"type": "public-key", "alg": RS256},
        ]
        if not any(p.get("type") == "public-key" and p.get("alg") == self.alg for p in params):
            raise ValueError("NotSupportedError")

        # A chosen credential_id lets a test present one id twice (a duplicate registration).
        credential_id = credential_id or os.urandom(self.credential_id_length)
        cred = SoftCredential(
            credential_id=credential_id,
            private_key=_new_private_key(self.alg),
            alg=self.alg,
            rp_id=options_rp_id,
            user_handle=b64url_decode(options["user"]["id"]) if self.discoverable else None,
            sign_count=0,
        )
        client_data = self._client_data(
            client_data_type,
            challenge if challenge is not None else b64url(b64url_decode(options["challenge"])),
            origin,
            cross_origin,
            top_origin,
        )
        hashed_rp_id = rp_id if rp_id is not None else options_rp_id
        attested = (
            self.aaguid
            + struct.pack(">H", len(credential_id))
            + credential_id
            + cred.cose_public_key()
        )
        flags = (FLAG_UP if user_present else 0) | FLAG_AT
        flags |= self._state_flags(self.user_verifying, None, None)
        # Registration always reports sign count 0; get() starts counting from there.
        auth_data = self._auth_data(hashed_rp_id, flags, 0) + attested
        att_stmt = self._attestation_statement(cred, auth_data, client_data)
        attestation_object = cbor2.dumps(
            {"fmt": self.attestation, "attStmt": att_stmt, "authData": auth_data}, canonical=True
        )
        self.credentials[credential_id] = cred

        extensions: dict[str, Any] = {}
        if cred_props and (options.get("extensions") or {}).get("credProps"):
            extensions["credProps"] = {"rk": self.discoverable}
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": extensions,
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": list(self.transports),
                "publicKeyAlgorithm": self.alg,
                "publicKey": b64url(cred.public_key_spki()),
                "authenticatorData": b64url(auth_data),
            },
        }

    # -- authentication ----------------------------------------------------------------

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        credential_id: bytes | None = None,
        user_handle: bytes | str | None = "auto",
        sign_count: int | None = None,
        cross_origin: bool | None = None,
        top_origin: str | None = None,
        client_data_type: str = "webauthn.get",
        challenge: str | None = None,
        user_verified: bool | None = None,
        backup_eligible: bool | None = None,
        backup_state: bool | None = None,
    ) -> dict[str, Any]:
        """Answer PublicKeyCredentialRequestOptionsJSON with an AuthenticationResponseJSON.

        ``user_handle``: "auto" sends the credential's own handle (null for
        non-discoverable ones), bytes are sent base64url-encoded, None sends null, and
        any other string is sent verbatim (to test malformed input).
        ``sign_count`` puts that value in authData without touching the stored counter.
        """
        options_rp_id: str = options.get("rpId") or _host(origin)
        cred = self._pick(options, options_rp_id, credential_id)
        if sign_count is None:
            cred.sign_count += self.counter_step
            counter = cred.sign_count
        else:
            counter = sign_count

        client_data = self._client_data(
            client_data_type,
            challenge if challenge is not None else b64url(b64url_decode(options["challenge"])),
            origin,
            cross_origin,
            top_origin,
        )
        flags = FLAG_UP | self._state_flags(
            self.user_verifying if user_verified is None else user_verified,
            backup_eligible,
            backup_state,
        )
        auth_data = self._auth_data(rp_id if rp_id is not None else options_rp_id, flags, counter)
        signature = cred.sign(auth_data + hashlib.sha256(client_data).digest())

        handle: str | None
        if user_handle == "auto":
            handle = None if cred.user_handle is None else b64url(cred.user_handle)
        elif isinstance(user_handle, bytes):
            handle = b64url(user_handle)
        else:
            handle = user_handle
        return {
            "id": b64url(cred.credential_id),
            "rawId": b64url(cred.credential_id),
            "type": "public-key",
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": handle,
            },
        }

    # -- internals ---------------------------------------------------------------------

    def _pick(
        self, options: dict[str, Any], rp_id: str, credential_id: bytes | None
    ) -> SoftCredential:
        if credential_id is not None:
            # An explicit pick bypasses allowCredentials so tests can present an
            # unexpected credential; it must still be one this authenticator holds.
            if credential_id not in self.credentials:
                raise ValueError("NotAllowedError")
            return self.credentials[credential_id]
        allowed = [b64url_decode(c["id"]) for c in options.get("allowCredentials") or []]
        for cred in self.credentials.values():
            if cred.rp_id != rp_id:
                continue
            if allowed and cred.credential_id in allowed:
                return cred
            # An empty allow list asks for a discoverable credential, as in passkey sign-in.
            if not allowed and cred.user_handle is not None:
                return cred
        raise ValueError("NotAllowedError")

    def _state_flags(self, uv: bool, be: bool | None, bs: bool | None) -> int:
        flags = FLAG_UV if uv else 0
        if self.backup_eligible if be is None else be:
            flags |= FLAG_BE
        if self.backup_state if bs is None else bs:
            flags |= FLAG_BS
        return flags

    @staticmethod
    def _auth_data(rp_id: str, flags: int, counter: int) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + struct.pack(">BI", flags, counter)

    @staticmethod
    def _client_data(
        type_: str, challenge: str, origin: str, cross_origin: bool | None, top_origin: str | None
    ) -> bytes:
        # Same key order and compact separators as Chrome's serialisation.
        data: dict[str, Any] = {
            "type": type_,
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": bool(cross_origin),
        }
        if top_origin is not None:
            data["topOrigin"] = top_origin
        return json.dumps(data, separators=(",", ":")).encode()

    def _attestation_statement(
        self, cred: SoftCredential, auth_data: bytes, client_data: bytes
    ) -> dict[str, Any]:
        client_data_hash = hashlib.sha256(client_data).digest()
        if self.attestation == "packed" and self.attestation_key is not None:
            # Full attestation: signed by the attestation key, its chain as x5c.
            alg = ES256 if isinstance(self.attestation_key, ec.EllipticCurvePrivateKey) else RS256
            return {
                "alg": alg,
                "sig": _sign(self.attestation_key, auth_data + client_data_hash),
                "x5c": list(self.attestation_chain),
            }
        if self.attestation == "packed":
            # Self attestation: no x5c, signed by the new credential key itself.
            return {"alg": cred.alg, "sig": cred.sign(auth_data + client_data_hash)}
        if self.attestation == "fido-u2f":
            key, cert = self._u2f_attestation_identity()
            public_key = cred.private_key.public_key()
            assert isinstance(public_key, ec.EllipticCurvePublicKey)  # __init__ enforces ES256
            nums = public_key.public_numbers()
            u2f_public_key = b"\x04" + _int_bytes(nums.x, 32) + _int_bytes(nums.y, 32)
            signed = (
                b"\x00" + auth_data[:32] + client_data_hash + cred.credential_id + u2f_public_key
            )
            return {"sig": _sign(key, signed), "x5c": [cert]}
        return {}

    def _u2f_attestation_identity(self) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        if isinstance(self.attestation_key, ec.EllipticCurvePrivateKey):
            return self.attestation_key, self.attestation_chain[0]
        # One self-signed P-256 attestation certificate per authenticator, made lazily
        # because most tests never need it.
        if self._u2f_key is None or self._u2f_cert is None:
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "softauthn U2F attestation")])
            now = datetime.datetime.now(datetime.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365))
                .sign(key, hashes.SHA256())
            )
            self._u2f_key = key
            self._u2f_cert = cert.public_bytes(serialization.Encoding.DER)
        return self._u2f_key, self._u2f_cert
