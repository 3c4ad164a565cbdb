"""A FIDO MDS3 BLOB verified: a JWT whose x5c chain must end at a configured root, whose
signature must be its leaf's, and whose payload must parse as MDS3 metadata (no I/O).

What is whose (docs/architecture.md says why): the JWS is joserfc's (as for ID tokens),
the chain's path validation `cryptography`'s (cryptography.x509.verification, the Web
PKI's rules, as for a TLS server's certificate), the payload's model python-fido2's
(fido2.mds3). fido2's own `parse_blob` is not used: it verifies an ES256 BLOB's signature
as DER where JWS has r || s (RFC 7518 3.4), so it refuses every correctly signed ES256
BLOB, and it checks neither the certificates' validity periods, nor that an issuer is a
CA, nor whose certificate signed, nor the algorithm against a list. Those checks are here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from fido2.mds3 import AuthenticatorStatus, MetadataBlobPayload
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from passkey_api.config import DEFAULT_MDS_ROOT

# Signature algorithms a BLOB may use: those of RFC 7518 with a key in a certificate.
# Never `none` or a MAC (HS256), whose "key" the BLOB itself would name.
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
# The FIDO Alliance's chain has been three certificates since 2025 (the leaf, GlobalSign's
# "GCC R46 EV TLS CA 2025", and Root R46 cross-signed by Root CA - R3), maybe with the
# root itself: a longer one is not a BLOB of theirs. Also the most intermediates a path
# may have.
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


def load_roots(path: Path | None) -> list[x509.Certificate]:
    """The roots a BLOB may chain to: the PEM file (one certificate or a bundle) at `path`,
    or the FIDO Alliance's shipped with the service (data/fido-mds-root.pem: Root R46,
    which FIDO names, and Root CA - R3, which the BLOB's cross-signed R46 still reaches)."""
    if path is None:
        pem = resources.files("passkey_api").joinpath(DEFAULT_MDS_ROOT).read_bytes()
    else:
        pem = path.read_bytes()
    roots = x509.load_pem_x509_certificates(pem)  # ValueError when there is none
    return roots


# What parsing untrusted bytes may raise, besides what it is known to: JSON nested deeper
# than the interpreter's stack (RecursionError), text that is not UTF-8, a key or
# algorithm `cryptography` does not know. Each is an unparsable BLOB, never an error of
# the service's.
_PARSE_ERRORS = (ValueError, TypeError, RecursionError, UnsupportedAlgorithm)


def parse_payload(payload_json: str) -> MetadataBlobPayload:
    """A payload verified before (as the database keeps it) read into fido2's model."""
    try:
        document = json.loads(payload_json)
    except _PARSE_ERRORS as exc:
        raise BlobRefused("unparsable", f"the payload is not JSON ({type(exc).__name__})") from None
    return _payload(document)


def verify(
    token: bytes, *, roots: Sequence[x509.Certificate], signer: str, now: datetime
) -> VerifiedBlob:
    """The BLOB's payload, once its chain validates (RFC 5280, at `now`) from a server
    certificate for `signer` (a SAN dNSName; "" for any leaf that may sign) to one of `roots`,
    and its signature is that certificate's. Else BlobRefused (whatever the bytes)."""
    try:
        return _verify(token, roots=roots, signer=signer, now=now)
    except _PARSE_ERRORS as exc:  # BlobRefused is none of these
        raise BlobRefused("unparsable", f"the BLOB cannot be read ({type(exc).__name__})") from None


def _verify(
    token: bytes, *, roots: Sequence[x509.Certificate], signer: str, now: datetime
) -> VerifiedBlob:
    try:
        compact = jws.extract_compact(token.strip(), registry=_REGISTRY)
    except (JoseError, ValueError, TypeError) as exc:
        raise BlobRefused("unparsable", f"not a JWT (JWS compact serialisation): {exc}") from None
    header = compact.protected
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise BlobRefused("untrusted", f"signature algorithm {alg!r} is not accepted")
    chain = _certificates(header.get("x5c"))
    _check_chain(chain, roots, signer, now)
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
    payload_json = compact.payload.decode()  # UnicodeDecodeError: a ValueError
    return VerifiedBlob(parse_payload(payload_json), payload_json)


def _payload(document: Any) -> MetadataBlobPayload:
    if not isinstance(document, dict):
        raise BlobRefused("unparsable", "the payload is not a JSON object")
    number = document.get("no")
    # fido2 takes the numbers as they come; `no` orders versions, so it must be one.
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise BlobRefused("unparsable", f"the payload's no {number!r} is not a serial number")
    try:
        return MetadataBlobPayload.from_dict(_known_statuses(document))
    except Exception as exc:  # fido2 raises what its parsing meets (KeyError, TypeError, ...)
        raise BlobRefused(
            "unparsable", f"the payload is not MDS3 metadata: {type(exc).__name__}: {exc}"
        ) from None


# The status reports fido2 knows. It reads another (one a later version of MDS3 adds)
# as a report without a status, which says nothing this service acts on: it is left
# out, rather than stop every refresh that meets it.
KNOWN_STATUSES = frozenset(status.value for status in AuthenticatorStatus)


def _known_statuses(document: dict[str, Any]) -> dict[str, Any]:
    entries = document.get("entries")
    if not isinstance(entries, list):
        return document  # fido2 says what is wrong with it
    kept = []
    for entry in entries:
        reports = entry.get("statusReports") if isinstance(entry, dict) else None
        if isinstance(reports, list):
            entry = {
                **entry,
                "statusReports": [
                    report
                    for report in reports
                    if not isinstance(report, dict)
                    or not isinstance(report.get("status"), str)  # fido2's to refuse
                    or report["status"] in KNOWN_STATUSES
                ],
            }
        kept.append(entry)
    return {**document, "entries": kept}


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


def _check_chain(
    chain: list[x509.Certificate], roots: Sequence[x509.Certificate], signer: str, now: datetime
) -> None:
    """RFC 5280 path validation from the leaf (chain[0]) to one of `roots`, by `cryptography`'s
    verifier with the Web PKI's rules (CA/B Forum): each issuer a CA with keyCertSign
    within its pathLen and name constraints, no unknown critical extension, validity
    periods, key identifiers, signature algorithms; the leaf no CA, with digitalSignature,
    and, when `signer` is set, a server certificate for that DNS name (SAN dNSName and
    serverAuth, as the Metadata Service's TLS certificate is). With signer "" (a private
    root), any leaf of the root that may sign and whose EKU, if any, allows serverAuth."""
    ee_policy = ExtensionPolicy.webpki_defaults_ee().require_present(
        x509.KeyUsage, Criticality.AGNOSTIC, _signing_usage
    )
    if not signer:  # no name to match, so no SAN needed (a private PKI's leaf may lack one)
        ee_policy = ee_policy.may_be_present(
            x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _server_purpose
        ).may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    builder = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(now)
        .max_chain_depth(MAX_CHAIN)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
    )
    try:
        if signer:
            try:
                name = x509.DNSName(signer)
            except ValueError:
                raise BlobRefused(
                    "untrusted", f"PASSKEY_MDS_SIGNER {signer!r} is not a DNS name"
                ) from None
            builder.build_server_verifier(name).verify(chain[0], chain[1:])
        else:
            builder.build_client_verifier().verify(chain[0], chain[1:])
    except VerificationError as exc:
        expired = [
            f"{_who(c)} is valid only from {c.not_valid_before_utc:%Y-%m-%d} to "
            f"{c.not_valid_after_utc:%Y-%m-%d}; "
            for c in [*chain, *roots]
            if not c.not_valid_before_utc <= now <= c.not_valid_after_utc
        ]
        wanted = f"a certificate for {signer} (PASSKEY_MDS_SIGNER)" if signer else "a leaf"
        raise BlobRefused(
            "untrusted",
            f"{''.join(expired)}the x5c chain does not lead from {wanted} to the configured "
            f"roots ({', '.join(_who(root) for root in roots)}); the signing certificate "
            f"is {_who(chain[0])}: {exc}",
        ) from None


def _signing_usage(policy: Any, certificate: x509.Certificate, usage: Any) -> None:
    """The signing certificate's KeyUsage: digitalSignature (the BLOB is a signature),
    never keyCertSign (a leaf issues nothing)."""
    if not usage.digital_signature:
        raise ValueError("its keyUsage does not allow digitalSignature")
    if usage.key_cert_sign:
        raise ValueError("its keyUsage allows keyCertSign, as a CA's does")


def _server_purpose(policy: Any, certificate: x509.Certificate, purposes: Any) -> None:
    if purposes is not None and ExtendedKeyUsageOID.SERVER_AUTH not in purposes:
        raise ValueError("its extendedKeyUsage does not allow serverAuth")


def _who(certificate: x509.Certificate) -> str:
    return repr(certificate.subject.rfc4514_string())
