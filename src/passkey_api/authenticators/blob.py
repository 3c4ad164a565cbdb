"""A FIDO MDS3 BLOB verified: a JWT whose x5c chain must end at the configured root, whose
signature must be its leaf's, and whose payload must parse as MDS3 metadata (no I/O).

What is whose (docs/architecture.md says why): the JWS is joserfc's (as for ID tokens),
each link of the chain `cryptography`'s, the payload's model python-fido2's (fido2.mds3).
fido2's own `parse_blob` is not used: it verifies an ES256 BLOB's signature as DER where
JWS has r || s (RFC 7518 3.4), so it refuses every correctly signed ES256 BLOB, and it
checks neither the certificates' validity periods, nor that an issuer is a CA, nor whose
certificate signed, nor the algorithm against a list. Those checks are here.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fido2.mds3 import MetadataBlobPayload
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from passkey_api.config import DEFAULT_MDS_ROOT

# Signature algorithms a BLOB may use: those of RFC 7518 with a key in a certificate.
# Never `none` or a MAC (HS256), whose "key" the BLOB itself would name.
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
# The FIDO Alliance's chain is two certificates; a longer one is not a BLOB of theirs.
MAX_CHAIN = 4


class _BlobRegistry(jws.JWSRegistry):
    """joserfc's JWS rules with a BLOB's sizes: its header carries a certificate chain
    (a few kB), its payload every model's metadata (a few MB), where an ID token's are
    small (joserfc's defaults, 512 bytes and 128 kB, would refuse every BLOB)."""

    max_header_length = 64 * 1024
    max_payload_length = 64 * 1024 * 1024


# Header members beyond alg, typ and x5c are not refused: the signature covers them.
_REGISTRY = _BlobRegistry(algorithms=ALGORITHMS, strict_check_header=False)


class BlobRefused(Exception):
    """A BLOB that is not to be used. `outcome` names the kind (the metric's label),
    the message says what was wrong in words an operator can act on."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


@dataclass(frozen=True)
class VerifiedBlob:
    payload: MetadataBlobPayload
    # The payload as it was signed (JSON text): what the database keeps.
    payload_json: str

    @property
    def number(self) -> int:
        return self.payload.no

    @property
    def next_update(self) -> date:
        return self.payload.next_update


def load_root(path: Path | None) -> x509.Certificate:
    """The root a BLOB must chain to: the PEM file at `path`, or the FIDO Alliance's root
    shipped with the service (data/fido-mds-root.pem)."""
    if path is None:
        pem = resources.files("passkey_api").joinpath(DEFAULT_MDS_ROOT).read_bytes()
    else:
        pem = path.read_bytes()
    return x509.load_pem_x509_certificate(pem)


def parse_payload(payload_json: str) -> MetadataBlobPayload:
    """A payload verified before (as the database keeps it) read into fido2's model."""
    return _payload(json.loads(payload_json))


def verify(token: bytes, *, root: x509.Certificate, signer: str, now: datetime) -> VerifiedBlob:
    """The BLOB's payload, once its chain leads from a certificate of `signer` (its DNS
    name or common name; "" for any) to `root`, every certificate valid at `now`, and its
    signature is that certificate's. Else BlobRefused."""
    try:
        compact = jws.extract_compact(token.strip(), registry=_REGISTRY)
    except (JoseError, ValueError, TypeError) as exc:
        raise BlobRefused("unparsable", f"not a JWT (JWS compact serialisation): {exc}") from None
    header = compact.protected
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise BlobRefused("untrusted", f"signature algorithm {alg!r} is not accepted")
    chain = _certificates(header.get("x5c"))
    _check_chain(chain, root, now)
    _check_signer(chain[0], signer)
    leaf_key = chain[0].public_key()
    key: ECKey | RSAKey
    pem = leaf_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if isinstance(leaf_key, ec.EllipticCurvePublicKey):
        key = ECKey.import_key(pem)
    elif isinstance(leaf_key, rsa.RSAPublicKey):
        key = RSAKey.import_key(pem)
    else:
        raise BlobRefused("untrusted", "the signing certificate's key is neither EC nor RSA")
    try:
        valid = jws.validate_compact(compact, key, algorithms=[alg], registry=_REGISTRY)
    except JoseError as exc:  # e.g. ES256 named with a P-384 key, RS256 with an EC key
        raise BlobRefused("bad_signature", f"the signature cannot be checked: {exc}") from None
    if not valid:
        raise BlobRefused("bad_signature", "the signature is not the signing certificate's")
    try:
        document = json.loads(compact.payload)
    except ValueError:
        raise BlobRefused("unparsable", "the payload is not JSON") from None
    return VerifiedBlob(_payload(document), compact.payload.decode())


def _payload(document: Any) -> MetadataBlobPayload:
    if not isinstance(document, dict):
        raise BlobRefused("unparsable", "the payload is not a JSON object")
    number = document.get("no")
    # fido2 takes the numbers as they come; `no` orders versions, so it must be one.
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise BlobRefused("unparsable", f"the payload's no {number!r} is not a serial number")
    try:
        return MetadataBlobPayload.from_dict(document)
    except Exception as exc:  # fido2 raises what its parsing meets (KeyError, TypeError, ...)
        raise BlobRefused(
            "unparsable", f"the payload is not MDS3 metadata: {type(exc).__name__}: {exc}"
        ) from None


def _certificates(x5c: object) -> list[x509.Certificate]:
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise BlobRefused("untrusted", "the JWT header has no x5c certificate chain")
    if len(x5c) > MAX_CHAIN:
        raise BlobRefused("untrusted", f"the x5c chain is longer than {MAX_CHAIN} certificates")
    try:
        # x5c is standard base64 with padding (RFC 7515 4.1.6), not base64url.
        return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
    except (ValueError, binascii.Error):
        raise BlobRefused("unparsable", "an x5c certificate is not base64 DER") from None


def _check_chain(chain: list[x509.Certificate], root: x509.Certificate, now: datetime) -> None:
    if chain[-1] == root:  # sent along with the root: the configured one stands for it
        chain = chain[:-1]
    if not chain:
        raise BlobRefused("untrusted", "the x5c chain holds nothing but the root")
    issuers = [*chain[1:], root]
    for child, issuer in zip(chain, issuers, strict=True):
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise BlobRefused(
                "untrusted",
                f"{_who(child)} is not issued by {_who(issuer)}: the chain does not lead to "
                f"the configured root ({_who(root)})",
            ) from None
    for certificate in [*chain, root]:
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise BlobRefused(
                "untrusted",
                f"{_who(certificate)} is valid only from "
                f"{certificate.not_valid_before_utc:%Y-%m-%d} to "
                f"{certificate.not_valid_after_utc:%Y-%m-%d}",
            )
    for issuer in issuers:
        try:
            is_ca = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise BlobRefused("untrusted", f"{_who(issuer)} issued a certificate but is no CA")


def _check_signer(leaf: x509.Certificate, signer: str) -> None:
    """Whose the signing certificate is: under a public root (the default, GlobalSign's),
    anyone can have a certificate for their own name, so the name must be the Metadata
    Service's (PASSKEY_MDS_SIGNER, mds.fidoalliance.org)."""
    if not signer:
        return
    names = [
        str(attribute.value)
        for attribute in leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    ]
    try:
        alternative = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names += alternative.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        pass
    if signer.lower() not in (name.lower() for name in names):
        raise BlobRefused(
            "untrusted",
            f"the BLOB is signed by {_who(leaf)}, not by {signer} (PASSKEY_MDS_SIGNER)",
        )


def _who(certificate: x509.Certificate) -> str:
    return repr(certificate.subject.rfc4514_string())
