"""A FIDO MDS3 BLOB verified against a root of the test's own (tests/mds_forge.py), and
its entries looked up: what is accepted and each way one is refused (no I/O)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from passkey_api.authenticators import blob
from passkey_api.authenticators.blob import BlobRefused
from passkey_api.authenticators.catalogue import Catalogue, key_identifier
from tests import mds_forge as forge

NOW = datetime.now(UTC)
AAGUID = uuid.UUID("2fc0579f-8113-47ea-b116-bb5a8db9202a")


@pytest.fixture(scope="module", params=["ES256", "RS256"])
def pki(request: pytest.FixtureRequest) -> forge.MdsPki:
    return forge.MdsPki.build(request.param)


def _key_alg(pki: forge.MdsPki) -> forge.Alg:
    return "RS256" if pki.leaf.key.__class__.__name__.startswith("RSA") else "ES256"


def _verify(token: bytes, pki: forge.MdsPki, **kwargs: object) -> blob.VerifiedBlob:
    values: dict[str, object] = {
        "roots": [pki.root.certificate],
        "signer": forge.SIGNER,
        "now": NOW,
    }
    values.update(kwargs)
    return blob.verify(token, **values)  # type: ignore[arg-type]


def _refused(token: bytes, pki: forge.MdsPki, **kwargs: object) -> BlobRefused:
    with pytest.raises(BlobRefused) as refused:
        _verify(token, pki, **kwargs)
    return refused.value


def test_a_good_blob_verifies_and_its_models_are_found(pki: forge.MdsPki) -> None:
    vendor = forge.AttestationPki()
    u2f = vendor.attestation_certificate()
    identifier = forge.key_identifier(u2f.certificate)
    entries = [
        forge.entry(aaguid=AAGUID, description="Test Key 5", roots=[vendor.root.der]),
        forge.entry(
            key_identifiers=[identifier],
            description="Old U2F Key",
            status_reports=[
                forge.status_report("FIDO_CERTIFIED", date(2019, 1, 1)),
                forge.status_report("ATTESTATION_KEY_COMPROMISE", date(2024, 5, 1)),
            ],
        ),
    ]
    token = forge.sign_blob(forge.payload(7, entries), pki, _key_alg(pki))
    verified = _verify(token, pki)
    assert verified.number == 7
    assert verified.next_update > date.today()
    assert json.loads(verified.payload_json)["no"] == 7

    catalogue = Catalogue(verified.payload)
    model = catalogue.by_aaguid(AAGUID)
    assert model is not None
    assert model.description == "Test Key 5"
    assert model.aaguid == AAGUID
    assert model.icon
    assert model.icon.startswith("data:image/png;base64,")
    assert model.status == "FIDO_CERTIFIED_L1"
    assert model.attestation_roots == (vendor.root.der,)
    assert catalogue.by_aaguid(str(AAGUID)) is model  # one model object per entry

    old = catalogue.by_key_identifier(identifier)
    assert old is not None
    assert old.description == "Old U2F Key"
    assert old.aaguid is None
    assert old.status == "ATTESTATION_KEY_COMPROMISE"  # the latest report
    assert catalogue.by_key_identifier(key_identifier(u2f.certificate)) is old

    assert catalogue.by_aaguid(uuid.uuid4()) is None
    assert catalogue.by_aaguid(uuid.UUID(int=0)) is None
    assert catalogue.by_key_identifier(b"\x00" * 20) is None


def test_the_chain_may_end_with_the_root_itself(pki: forge.MdsPki) -> None:
    token = forge.sign_jwt(forge.payload(1), pki.leaf.key, [*pki.x5c, pki.root.der], _key_alg(pki))
    assert _verify(token, pki).number == 1


def test_a_bad_signature_is_refused(pki: forge.MdsPki) -> None:
    # Signed by a key that is not the certificate's.
    token = forge.sign_jwt(forge.payload(1), forge.new_key(_key_alg(pki)), pki.x5c, _key_alg(pki))
    assert _refused(token, pki).outcome == "bad_signature"
    # A payload changed after signing.
    head, _, rest = forge.sign_blob(forge.payload(1), pki, _key_alg(pki)).partition(b".")
    _, _, signature = rest.partition(b".")
    changed = base64.urlsafe_b64encode(json.dumps(forge.payload(99)).encode()).rstrip(b"=")
    assert _refused(b".".join([head, changed, signature]), pki).outcome == "bad_signature"


def test_a_chain_to_another_root_is_refused(pki: forge.MdsPki) -> None:
    other = forge.MdsPki.build(_key_alg(pki))
    token = forge.sign_blob(forge.payload(1), other, _key_alg(pki))
    refused = _refused(token, pki)
    assert refused.outcome == "untrusted"
    assert "to the configured root" in refused.message


def test_a_certificate_of_another_name_is_refused(pki: forge.MdsPki) -> None:
    """Under a public root anyone can have a certificate; only the service's name signs."""
    impostor = forge.issue(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "evil.example")]),
        issuer=pki.intermediate,
        ca=False,
        key=forge.new_key(_key_alg(pki)),
        dns_names=["evil.example"],
    )
    token = forge.sign_jwt(
        forge.payload(1), impostor.key, [impostor.der, pki.intermediate.der], _key_alg(pki)
    )
    refused = _refused(token, pki)
    assert (refused.outcome, "PASSKEY_MDS_SIGNER" in refused.message) == ("untrusted", True)
    assert _verify(token, pki, signer="").number == 1  # a private root: any of its leaves
    # ...that may sign, SAN and EKU or not.
    plain = forge.issue(_name("Private Signer"), issuer=pki.intermediate, ca=False)
    token = forge.sign_jwt(forge.payload(2), plain.key, [plain.der, pki.intermediate.der])
    assert _verify(token, pki, signer="").number == 2
    assert _refused(token, pki).outcome == "untrusted"  # not for the signer named


def test_a_leaf_cannot_issue(pki: forge.MdsPki) -> None:
    """A certificate that is no CA (the signing leaf) cannot vouch for another."""
    below = forge.issue(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, forge.SIGNER)]),
        issuer=pki.leaf,
        ca=False,
        key=forge.new_key(_key_alg(pki)),
        dns_names=[forge.SIGNER],
    )
    token = forge.sign_jwt(forge.payload(1), below.key, [below.der, *pki.x5c], _key_alg(pki))
    assert "basicConstraints.cA must be asserted" in _refused(token, pki).message


def test_an_expired_certificate_is_refused(pki: forge.MdsPki) -> None:
    token = forge.sign_blob(forge.payload(1), pki, _key_alg(pki))
    refused = _refused(token, pki, now=NOW + timedelta(days=400))
    assert (refused.outcome, "is valid only from" in refused.message) == ("untrusted", True)


@pytest.mark.parametrize("alg", ["none", "HS256", "RS1", None])
def test_algorithms_outside_the_list_are_refused(pki: forge.MdsPki, alg: str | None) -> None:
    token = forge.sign_blob(forge.payload(1), pki, _key_alg(pki), header={"alg": alg})
    assert _refused(token, pki).outcome == "untrusted"


def test_an_algorithm_that_does_not_fit_the_key_is_refused(pki: forge.MdsPki) -> None:
    wrong = "RS256" if _key_alg(pki) == "ES256" else "ES256"
    token = forge.sign_blob(forge.payload(1), pki, _key_alg(pki), header={"alg": wrong})
    assert _refused(token, pki).outcome == "bad_signature"


@pytest.mark.parametrize(
    "x5c", [None, [], "MIIB", ["not base64!"], [base64.b64encode(b"not DER").decode()]]
)
def test_a_missing_or_broken_chain_is_refused(pki: forge.MdsPki, x5c: object) -> None:
    token = forge.sign_blob(forge.payload(1), pki, _key_alg(pki), header={"x5c": x5c})
    assert _refused(token, pki).outcome in ("untrusted", "unparsable")


@pytest.mark.parametrize(
    "token", [b"", b"garbage", b"a.b", b"a.b.c", b"\xff\xfe.\x00.\x01", b"e30.e30.e30"]
)
def test_what_is_no_jwt_is_unparsable(pki: forge.MdsPki, token: bytes) -> None:
    assert _refused(token, pki).outcome in ("unparsable", "untrusted")


@pytest.mark.parametrize(
    "change",
    [
        {"no": "7"},
        {"no": True},
        {"no": -1},
        {"nextUpdate": "soon"},
        {"entries": "none"},
        {"entries": [{"aaguid": "not a uuid"}]},
    ],
)
def test_a_payload_that_is_not_mds3_is_unparsable(
    pki: forge.MdsPki, change: dict[str, object]
) -> None:
    document = forge.payload(1) | change
    token = forge.sign_blob(document, pki, _key_alg(pki))
    assert _refused(token, pki).outcome == "unparsable"
    assert _refused(forge.sign_jwt(b"[1, 2]", pki.leaf.key, pki.x5c, _key_alg(pki)), pki)


def test_the_shipped_roots_are_the_fido_alliances() -> None:
    """Root R46, which FIDO names since the BLOB's certificate was re-issued (2026-08-21),
    and Root CA - R3, which the BLOB's cross-signed R46 still reaches."""
    roots = blob.load_roots(None)
    assert [root.fingerprint(hashes.SHA256()).hex() for root in roots] == [
        "4fa3126d8d3a11d1c4855a4f807cbad6cf919d3a5a88b03bea2c6372d93c40c9",
        "cbb522d7b7f127ad6a0113865bdf1cd4102e7d0759af635a7cf4720dc963c53b",
    ]
    assert "GlobalSign Root R46" in roots[0].subject.rfc4514_string()
    assert "GlobalSign Root CA - R3" in roots[1].subject.rfc4514_string()


def test_a_chain_verifies_to_the_newer_root_or_the_older_one(pki: forge.MdsPki) -> None:
    """FIDO's x5c (leaf, issuing CA, R46 cross-signed by R3) verifies whichever of the two
    roots is configured, and so does an x5c that ends at the newer root itself; the one
    shipped root (R3 alone) refused every BLOB signed after FIDO's re-issue that lacked the
    cross certificate."""
    alg = _key_alg(pki)
    crossed = forge.MdsPki.build(alg, cross_signed=True)
    assert crossed.cross is not None
    newer = forge.issue(crossed.cross.certificate.subject, ca=True, key=crossed.cross.key)
    older = crossed.root.certificate
    token = forge.sign_blob(forge.payload(6), crossed, alg)
    for roots in ([newer.certificate], [older], [newer.certificate, older]):
        assert _verify(token, crossed, roots=roots).number == 6
    own_root = [crossed.leaf.der, crossed.intermediate.der, newer.der]
    token = forge.sign_jwt(forge.payload(7), crossed.leaf.key, own_root, alg)
    assert _verify(token, crossed, roots=[older, newer.certificate]).number == 7
    assert _refused(token, crossed, roots=[older]).outcome == "untrusted"


def test_a_chain_through_a_cross_signed_root_verifies(pki: forge.MdsPki) -> None:
    """FIDO's chain since 2025: leaf, "GlobalSign GCC R46 EV TLS CA 2025", and Root R46
    cross-signed by Root CA - R3 (the configured root): three certificates in x5c."""
    alg = _key_alg(pki)
    crossed = forge.MdsPki.build(alg, cross_signed=True)
    assert len(crossed.x5c) == 3
    token = forge.sign_blob(forge.payload(4), crossed, alg)
    assert _verify(token, crossed).number == 4
    with_root = [*crossed.x5c, crossed.root.der]
    token = forge.sign_jwt(forge.payload(5), crossed.leaf.key, with_root, alg)
    assert _verify(token, crossed).number == 5


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])


def _leaf(issuer: forge.Issued, alg: forge.Alg, **kwargs: Any) -> forge.Issued:
    values: dict[str, Any] = {"dns_names": [forge.SIGNER]} | kwargs
    return forge.issue(
        _name(forge.SIGNER), issuer=issuer, ca=False, key=forge.new_key(alg), **values
    )


def _sub_ca(issuer: forge.Issued, alg: forge.Alg, name: str, **kwargs: Any) -> forge.Issued:
    return forge.issue(_name(name), issuer=issuer, ca=True, key=forge.new_key(alg), **kwargs)


def _name_constrained(pki: forge.MdsPki, alg: forge.Alg) -> list[forge.Issued]:
    """A sub-CA that may issue only for other.example, and a leaf of it for the signer."""
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName("other.example")], excluded_subtrees=None
    )
    sub = _sub_ca(pki.root, alg, "Other's CA", critical_extensions=[constraints])
    return [_leaf(sub, alg), sub]


def _path_length_exceeded(pki: forge.MdsPki, alg: forge.Alg) -> list[forge.Issued]:
    """The intermediate (pathLen 0) issues a CA of its own, which issues the leaf."""
    rogue = _sub_ca(pki.intermediate, alg, "Rogue CA")
    return [_leaf(rogue, alg), rogue, pki.intermediate]


def _no_key_cert_sign(pki: forge.MdsPki, alg: forge.Alg) -> list[forge.Issued]:
    sub = _sub_ca(pki.root, alg, "CRL Signer", usage=forge.key_usage(crl_sign=True))
    return [_leaf(sub, alg), sub]


def _client_certificate(pki: forge.MdsPki, alg: forge.Alg) -> list[forge.Issued]:
    """An S/MIME and client certificate whose CN is the signer: no SAN, no serverAuth."""
    leaf = _leaf(
        pki.intermediate,
        alg,
        dns_names=[],
        purposes=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION],
    )
    return [leaf, pki.intermediate]


def _unknown_critical_extension(pki: forge.MdsPki, alg: forge.Alg) -> list[forge.Issued]:
    unknown = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    return [_leaf(pki.intermediate, alg, critical_extensions=[unknown]), pki.intermediate]


def _no_digital_signature(pki: forge.MdsPki, alg: forge.Alg) -> list[forge.Issued]:
    leaf = _leaf(pki.intermediate, alg, usage=forge.key_usage(key_encipherment=True))
    return [leaf, pki.intermediate]


def _leaf_that_is_a_ca(pki: forge.MdsPki, alg: forge.Alg) -> list[forge.Issued]:
    leaf = forge.issue(
        _name(forge.SIGNER),
        issuer=pki.intermediate,
        ca=True,
        key=forge.new_key(alg),
        dns_names=[forge.SIGNER],
        usage=forge.key_usage(digital_signature=True, key_cert_sign=True),
        purposes=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    return [leaf, pki.intermediate]


@pytest.mark.parametrize(
    "build",
    [
        _name_constrained,
        _path_length_exceeded,
        _no_key_cert_sign,
        _client_certificate,
        _unknown_critical_extension,
        _no_digital_signature,
        _leaf_that_is_a_ca,
    ],
)
@pytest.mark.parametrize("signer", [forge.SIGNER, ""], ids=["signer", "any-signer"])
def test_a_chain_that_path_validation_refuses_is_untrusted(
    pki: forge.MdsPki,
    build: Callable[[forge.MdsPki, forge.Alg], list[forge.Issued]],
    signer: str,
) -> None:
    """Each signed by its leaf, each chained to the configured root, signature by
    signature; each refused by RFC 5280 / CA/B Forum path validation, with a signer
    named or (a private root) without."""
    alg = _key_alg(pki)
    chain = build(pki, alg)
    token = forge.sign_jwt(forge.payload(1), chain[0].key, [c.der for c in chain], alg)
    assert _refused(token, pki, signer=signer).outcome == "untrusted"


def _b64u(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@pytest.mark.parametrize(
    "token",
    [
        _b64u(b"[" * 2000 + b"]" * 2000) + b".e30.AA",  # RecursionError in json
        _b64u(b"\xff\xfe{}") + b".e30.AA",  # UnicodeDecodeError
        _b64u(b'{"alg": "ES256", "x5c": ["' + b"A" * 8 + b'"]}') + b".e30.AA",
    ],
    ids=["nested-header", "not-utf8", "x5c-not-der"],
)
def test_whatever_fails_to_parse_is_unparsable(pki: forge.MdsPki, token: bytes) -> None:
    refused = _refused(token, pki)
    assert refused.outcome in ("unparsable", "untrusted")
    if b"x5c" not in base64.urlsafe_b64decode(token.split(b".")[0] + b"==="):
        assert refused.outcome == "unparsable"


def test_a_payload_nested_too_deep_is_unparsable(pki: forge.MdsPki) -> None:
    """Signed and chained, yet its JSON cannot be read: unparsable, not an exception."""
    alg = _key_alg(pki)
    token = forge.sign_jwt(b"[" * 5000 + b"]" * 5000, pki.leaf.key, pki.x5c, alg)
    assert _refused(token, pki).outcome == "unparsable"
    with pytest.raises(BlobRefused):
        blob.parse_payload("[" * 5000 + "]" * 5000)
