"""Builders for FIDO Metadata Service (MDS3) tests, with nothing from the internet: a
certificate authority of the test's own (root, intermediate, BLOB signing leaf), MDS3
entries and payloads, BLOB JWTs signed ES256 or RS256 with an x5c chain, and attestation
certificates under a root that an entry names (for the attestation tests to come).

The JWTs are signed here by hand with `cryptography` (JWS compact serialisation, RFC 7515;
ES256 as r || s, RFC 7518 3.4), independently of the code under test, which verifies them
with joserfc.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from tests.softauthn import SoftAuthenticator

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
Alg = Literal["ES256", "RS256"]

# The name the test BLOBs' signing certificate carries (PASSKEY_MDS_SIGNER in the tests).
SIGNER = "mds.test.example"
# id-fido-gen-ce-aaguid: the AAGUID in a packed attestation certificate.
AAGUID_EXTENSION = ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


def new_key(kind: Alg = "ES256") -> PrivateKey:
    if kind == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def name_of(common_name: str, **more: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    oids = {
        "organization": NameOID.ORGANIZATION_NAME,
        "unit": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "country": NameOID.COUNTRY_NAME,
    }
    attributes += [x509.NameAttribute(oids[key], value) for key, value in more.items()]
    return x509.Name(attributes)


@dataclass
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


_CA_USAGE = {"key_cert_sign": True, "crl_sign": True}
_LEAF_USAGE = {"digital_signature": True}


def key_usage(**set_bits: bool) -> x509.KeyUsage:
    """A KeyUsage with the bits named set (digital_signature=True, key_cert_sign=True...)."""
    bits = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    bits.update(set_bits)
    return x509.KeyUsage(**bits)


_DEFAULT: Any = object()


def issue(
    subject: x509.Name,
    *,
    issuer: Issued | None = None,
    ca: bool,
    key: PrivateKey | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    dns_names: Sequence[str] = (),
    extensions: Sequence[x509.ExtensionType] = (),
    critical_extensions: Sequence[x509.ExtensionType] = (),
    path_length: int | None = None,
    usage: x509.KeyUsage | None = _DEFAULT,
    purposes: Sequence[ObjectIdentifier] | None = _DEFAULT,
    identifiers: bool = True,
    issuer_name: x509.Name | None = None,
) -> Issued:
    """A certificate for `subject`, signed by `issuer` (self-signed without one), as a
    public CA issues them (RFC 5280, CA/B Forum baseline): key identifiers (SKI, and AKI
    naming the issuer's key), a critical KeyUsage (keyCertSign and cRLSign for a CA,
    digitalSignature for a leaf), and for a leaf with DNS names a SAN and the serverAuth
    EKU. `usage` and `purposes` replace the KeyUsage and EKU (None: without one),
    `identifiers=False` leaves the key identifiers out, `path_length` limits a CA;
    `issuer_name` writes another issuer name than the issuer's subject (as a CA may
    encode the same name otherwise)."""
    key = key or new_key()
    now = datetime.now(UTC)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or (issuer.certificate.subject if issuer else subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    )
    if identifiers:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    if usage is _DEFAULT:
        usage = key_usage(**(_CA_USAGE if ca else _LEAF_USAGE))
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if purposes is _DEFAULT:
        purposes = [ExtendedKeyUsageOID.SERVER_AUTH] if dns_names and not ca else None
    if purposes is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(purposes)), critical=False)
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]),
            critical=False,
        )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    for extension in critical_extensions:
        builder = builder.add_extension(extension, critical=True)
    certificate = builder.sign(signer_key, hashes.SHA256())
    return Issued(certificate, key)


@dataclass
class MdsPki:
    """A root, an intermediate and the BLOB signing leaf under them, as the FIDO Alliance's
    own (GlobalSign root, an intermediate, the `mds.fidoalliance.org` certificate). With
    `cross`, as FIDO's chain has been since 2025: the leaf's issuer is under a newer root
    (GlobalSign Root R46) that the configured one (R3) cross-signed, and x5c carries the
    leaf, the issuing CA and the cross certificate."""

    root: Issued
    intermediate: Issued
    leaf: Issued
    cross: Issued | None = None

    @classmethod
    def build(
        cls,
        alg: Alg = "ES256",
        *,
        signer: str = SIGNER,
        leaf_not_after: datetime | None = None,
        cross_signed: bool = False,
    ) -> MdsPki:
        root = issue(name_of("Test MDS Root", organization="Test PKI"), ca=True, key=new_key(alg))
        cross = None
        above = root
        if cross_signed:
            # The newer root's own key and name, in a certificate the older root issued.
            cross = issue(
                name_of("Test MDS Root R46", organization="Test PKI"),
                issuer=root,
                ca=True,
                key=new_key(alg),
            )
            above = cross
        intermediate = issue(
            name_of("Test MDS Intermediate", organization="Test PKI"),
            issuer=above,
            ca=True,
            key=new_key(alg),
            path_length=0,
        )
        leaf = issue(
            name_of(signer, organization="Test Metadata Service"),
            issuer=intermediate,
            ca=False,
            key=new_key(alg),
            dns_names=[signer],
            not_after=leaf_not_after,
        )
        return cls(root, intermediate, leaf, cross)

    @property
    def x5c(self) -> list[bytes]:
        """The BLOB's chain as the FIDO Alliance sends it: the leaf and the intermediate
        (and the cross certificate), not the root."""
        return [self.leaf.der, self.intermediate.der, *([self.cross.der] if self.cross else [])]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(
    payload: dict[str, Any] | bytes,
    key: PrivateKey,
    chain: Sequence[bytes],
    alg: str = "ES256",
    *,
    header: dict[str, Any] | None = None,
) -> bytes:
    """A JWS compact serialisation of `payload` signed with `key`, with `chain` (DER) as
    x5c (standard base64, RFC 7515 4.1.6). `header` replaces header members (to forge)."""
    protected = {"alg": alg, "typ": "JWT", "x5c": [base64.b64encode(c).decode() for c in chain]}
    protected.update(header or {})
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    message = f"{_b64url(json.dumps(protected).encode())}.{_b64url(body)}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return message + b"." + _b64url(signature).encode()


def sign_blob(payload: dict[str, Any], pki: MdsPki, alg: Alg = "ES256", **kwargs: Any) -> bytes:
    return sign_jwt(payload, pki.leaf.key, pki.x5c, alg, **kwargs)


def key_identifier(certificate: x509.Certificate) -> bytes:
    """An attestation certificate's key identifier as MDS3 lists them for U2F keys: the
    SHA-1 of its subjectPublicKey (RFC 5280 4.2.1.2 (1))."""
    return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


@dataclass
class AttestationPki:
    """An authenticator vendor's attestation root, which an MDS3 entry names, and the
    attestation certificates it issues to a model's authenticators."""

    # Each vendor's root its own name, as real vendors' are: chains and the metadata's
    # roots are matched by name (catalogue.ca_name_key).
    root: Issued = field(
        default_factory=lambda: issue(
            name_of(
                f"Test Vendor {uuid.uuid4().hex[:8]} Attestation Root",
                organization="Test Vendor",
            ),
            ca=True,
        )
    )

    def malformed_attestation_certificate(self, kind: str) -> Issued:
        """An attestation certificate whose extensions cryptography cannot read, signed
        as the root issues them: `duplicate` (the AAGUID extension twice: RFC 5280
        4.2 forbids it) or `x400` / `edi` (a SAN of an x400Address or an EDIPartyName,
        names cryptography does not support)."""
        if kind == "duplicate":
            twin = ObjectIdentifier("1.3.6.1.4.1.45724.1.1.5")  # as long, encoded
            value = b"\x04\x10" + bytes(16)
            issued = self._certificate(
                [
                    x509.UnrecognizedExtension(AAGUID_EXTENSION, value),
                    x509.UnrecognizedExtension(twin, value),
                ]
            )
            tbs = issued.certificate.tbs_certificate_bytes
            oid, twin_oid = (
                bytes.fromhex("060b2b0601040182e51c010104"),
                bytes.fromhex("060b2b0601040182e51c010105"),
            )
            assert tbs.count(twin_oid) == 1
            return resigned(issued, self.root, tbs.replace(twin_oid, oid))
        names = {"x400": b"\x30\x04\xa3\x02\x30\x00", "edi": b"\x30\x06\xa5\x04\x81\x02ab"}
        return self._certificate(
            [x509.UnrecognizedExtension(x509.OID_SUBJECT_ALTERNATIVE_NAME, names[kind])]
        )

    def _certificate(self, extensions: Sequence[x509.ExtensionType]) -> Issued:
        return issue(
            name_of(
                "Test Vendor Batch 1",
                organization="Test Vendor",
                unit="Authenticator Attestation",
                country="SE",
            ),
            issuer=self.root,
            ca=False,
            extensions=extensions,
        )

    def attestation_certificate(self, aaguid: uuid.UUID | None = None) -> Issued:
        """A batch attestation certificate as packed attestation requires it (WebAuthn
        8.2.1: C, O, OU "Authenticator Attestation", CN; not a CA), with the AAGUID
        extension when given (a U2F key's has none)."""
        extensions: list[x509.ExtensionType] = []
        if aaguid is not None:
            # An OCTET STRING holding the AAGUID's 16 bytes.
            extensions.append(
                x509.UnrecognizedExtension(AAGUID_EXTENSION, b"\x04\x10" + aaguid.bytes)
            )
        return self._certificate(extensions)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def resigned(issued: Issued, issuer: Issued, tbs: bytes) -> Issued:
    """`issued` with its TBSCertificate replaced by `tbs` (DER, edited by hand: what
    cryptography's builder refuses to make) and signed again by `issuer` (ES256)."""
    der = issued.der
    rest = der[der.index(issued.certificate.tbs_certificate_bytes) :]
    rest = rest[len(issued.certificate.tbs_certificate_bytes) :]
    algorithm = rest[: 2 + rest[1]]  # AlgorithmIdentifier: a short SEQUENCE
    assert isinstance(issuer.key, ec.EllipticCurvePrivateKey)
    signature = issuer.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    bits = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
    content = tbs + algorithm + bits
    certificate = x509.load_der_x509_certificate(b"\x30" + _der_length(len(content)) + content)
    return Issued(certificate, issued.key)


def status_report(status: str, effective: date | None = None, **more: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"status": status}
    if effective is not None:
        report["effectiveDate"] = effective.isoformat()
    report.update(more)
    return report


def entry(
    *,
    aaguid: uuid.UUID | None = None,
    key_identifiers: Sequence[bytes] = (),
    aaid: str | None = None,
    description: str = "Test Security Key",
    roots: Sequence[bytes] = (),
    status_reports: Sequence[dict[str, Any]] | None = None,
    icon: str | None = "data:image/png;base64,iVBORw0KGgo=",
) -> dict[str, Any]:
    """One MDS3 entry (FIDO Metadata Service 3.0, 3.1.1) with its metadata statement
    (FIDO Metadata Statement 3.0, 4): what the spec requires and what lookups read."""
    statement: dict[str, Any] = {
        "legalHeader": "Test metadata, no legal meaning.",
        "description": description,
        "authenticatorVersion": 1,
        "protocolFamily": "fido2" if aaguid else "u2f",
        "schema": 3,
        "upv": [{"major": 1, "minor": 0}],
        "authenticationAlgorithms": ["secp256r1_ecdsa_sha256_raw"],
        "publicKeyAlgAndEncodings": ["cose"],
        "attestationTypes": ["basic_full"],
        "userVerificationDetails": [[{"userVerificationMethod": "presence_internal"}]],
        "keyProtection": ["hardware", "secure_element"],
        "matcherProtection": ["on_chip"],
        "attachmentHint": ["external", "wired"],
        "tcDisplay": [],
        "attestationRootCertificates": [base64.b64encode(der).decode() for der in roots],
    }
    if icon is not None:
        statement["icon"] = icon
    found: dict[str, Any] = {
        "metadataStatement": statement,
        "statusReports": list(
            status_reports
            if status_reports is not None
            else [status_report("FIDO_CERTIFIED_L1", date(2024, 1, 1))]
        ),
        "timeOfLastStatusChange": "2024-01-01",
    }
    if aaguid is not None:
        found["aaguid"] = statement["aaguid"] = str(aaguid)
    if key_identifiers:
        hex_ids = [identifier.hex() for identifier in key_identifiers]
        found["attestationCertificateKeyIdentifiers"] = hex_ids
        statement["attestationCertificateKeyIdentifiers"] = hex_ids
    if aaid is not None:  # a UAF authenticator's entry
        found["aaid"] = statement["aaid"] = aaid
        statement["protocolFamily"] = "uaf"
    return found


def payload(
    no: int, entries: Sequence[dict[str, Any]] = (), *, next_update: date | None = None
) -> dict[str, Any]:
    """A BLOB's payload (FIDO Metadata Service 3.0, 3.1.6)."""
    return {
        "legalHeader": "Test metadata, no legal meaning.",
        "no": no,
        "nextUpdate": (next_update or date.today() + timedelta(days=30)).isoformat(),
        "entries": list(entries),
    }


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def security_key(**kwargs: Any) -> SoftAuthenticator:
    """A user-verifying USB security key of the software authenticator."""
    return SoftAuthenticator(
        transports=("usb",), attachment="cross-platform", user_verifying=True, **kwargs
    )


def metadata_settings(folder: Path) -> dict[str, Any]:
    """An app's settings that read the test's BLOB (`folder`/blob.jwt, signed under
    `folder`/mds-root.pem) and ask for attestation."""
    return {
        "mds": True,
        "mds_file": folder / "blob.jwt",
        "mds_root": folder / "mds-root.pem",
        "mds_signer": SIGNER,
        "attestation": "direct",
    }


def attesting_key(
    certificate: Issued, attestation: Literal["packed", "fido-u2f"], aaguid: uuid.UUID | None = None
) -> SoftAuthenticator:
    """A security key that attests `attestation` with `certificate` (its key signs, the
    certificate is the chain) and claims the model `aaguid` (none: the zero AAGUID, as a
    U2F key has)."""
    assert isinstance(certificate.key, ec.EllipticCurvePrivateKey)
    return security_key(
        aaguid=(aaguid or uuid.UUID(int=0)).bytes,
        attestation=attestation,
        attestation_key=certificate.key,
        attestation_chain=[certificate.der],
    )
