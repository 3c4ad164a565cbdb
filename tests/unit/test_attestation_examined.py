"""What examining an attestation learns from real authenticators' registrations and the
WebAuthn Level 3 test vectors (tests/fixtures/authenticators): the type each format
implies, a U2F key's key identifier, and "verified" only when the chain reached a root
the metadata gives for the model; with no metadata, never. Apple's format, for which
py_webauthn adds Apple's root to those it is given, counts only by the metadata's."""

from __future__ import annotations

import importlib
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from OpenSSL.crypto import X509Store

from passkey_api.authenticators import blob
from passkey_api.authenticators.catalogue import Catalogue
from passkey_api.authenticators.service import MetadataService
from passkey_api.ceremonies import attestation, checks, structures
from passkey_api.ceremonies.schemas import RegistrationResponseJSON
from passkey_api.config import Settings
from passkey_api.errors import InvalidCredential
from tests import mds_forge as forge
from tests.softauthn import b64url_decode
from tests.unit.test_real_authenticators import VERIFIABLE

TYPES = {
    "none": "none",
    "packed": "basic",
    "fido-u2f": "basic",
    "tpm": "attca",
    "apple": "anonca",
    "android-key": "basic",
}
# Real Android Keystore registrations whose chains (to Google's hardware attestation
# root) have expired, with a time when they were valid (their fixtures' notes).
ANDROID_KEY = {
    "android-key-pixel-8a": datetime(2025, 1, 7, 18, 0),
    "android-key-galaxy-s9plus": datetime(2019, 6, 13, 19, 32),
}
FIXTURES = Path(__file__).parents[1] / "fixtures" / "authenticators"
WITH_ROOT = [p for p in VERIFIABLE if "attestation_root" in json.loads(p.read_text())]
WITHOUT_ROOT = [p for p in VERIFIABLE if p not in WITH_ROOT]


def _fixture(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _settings(fixture: dict[str, Any]) -> Settings:
    return Settings(
        rp_id=fixture["rp_id"],
        origins=[fixture["origin"]],
        secret_key="k" * 40,
        attestation="direct",
    )


def _examine(
    fixture: dict[str, Any], metadata: MetadataService | None
) -> attestation.NewCredential:
    credential = RegistrationResponseJSON.model_validate(fixture["registration"]["credential"])
    client_data = checks.client_data(credential.response.clientDataJSON)
    return attestation.verify(
        _settings(fixture), credential, client_data, require_uv=False, metadata=metadata
    )


def _metadata(fixture: dict[str, Any], root: bytes) -> MetadataService:
    """Metadata listing the fixture's model with `root` as its attestation root."""
    decoded = structures.attestation_object(
        b64url_decode(fixture["registration"]["credential"]["response"]["attestationObject"])
    )
    attested = decoded.auth_data.attested
    assert attested is not None
    aaguid = uuid.UUID(bytes=attested.aaguid)
    if aaguid.int:
        entry = forge.entry(aaguid=aaguid, roots=[root])
    else:
        leaf = x509.load_der_x509_certificate(decoded.att_stmt["x5c"][0])
        entry = forge.entry(key_identifiers=[forge.key_identifier(leaf)], roots=[root])
    payload = blob.parse_payload(json.dumps(forge.payload(1, [entry])))
    service = MetadataService(_settings(fixture))
    service.catalogue = Catalogue(payload)
    return service


def _expected_type(fixture: dict[str, Any]) -> str:
    raw = b64url_decode(fixture["registration"]["credential"]["response"]["attestationObject"])
    if fixture["format"] == "packed" and "x5c" not in structures.attestation_object(raw).att_stmt:
        return "self"
    return TYPES[fixture["format"]]


@pytest.mark.parametrize("path", WITHOUT_ROOT, ids=lambda p: p.stem)
def test_without_metadata_the_type_is_learned_and_nothing_verified(path: Path) -> None:
    fixture = _fixture(path)
    found = _examine(fixture, None)
    assert found.attestation_type == _expected_type(fixture)
    assert not found.attestation_verified
    raw = b64url_decode(fixture["registration"]["credential"]["response"]["attestationObject"])
    decoded = structures.attestation_object(raw)
    if fixture["format"] == "fido-u2f":  # no AAGUID: the model is the certificate's key
        leaf = x509.load_der_x509_certificate(decoded.att_stmt["x5c"][0])
        assert found.attestation_key_identifier == forge.key_identifier(leaf).hex()
    else:
        assert found.attestation_key_identifier is None


@pytest.mark.parametrize("path", WITH_ROOT, ids=lambda p: p.stem)
def test_a_chain_to_the_models_root_in_the_metadata_is_verified(path: Path) -> None:
    fixture = _fixture(path)
    root = b64url_decode(fixture["attestation_root"])
    found = _examine(fixture, _metadata(fixture, root))
    assert found.attestation_type == _expected_type(fixture)
    assert found.attestation_verified


@pytest.mark.parametrize("path", WITH_ROOT, ids=lambda p: p.stem)
def test_a_chain_to_another_root_is_not(path: Path) -> None:
    fixture = _fixture(path)
    other = forge.AttestationPki().root.der
    if fixture["format"] == "apple":
        # Valid only under its own root (the vectors' CA), which nothing now gives.
        with pytest.raises(InvalidCredential):
            _examine(fixture, _metadata(fixture, other))
        return
    found = _examine(fixture, _metadata(fixture, other))
    assert found.attestation_type == _expected_type(fixture)
    assert not found.attestation_verified


@pytest.mark.parametrize("name", sorted(ANDROID_KEY))
def test_android_key_is_never_verified(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """py_webauthn checks an android-key chain and the attestation challenge, but never
    the AAGUID (nor attestationApplicationId): any app on a genuine Android device gets
    a chain to Google's roots for whatever AAGUID it claims. So even with the metadata
    listing Google's root for the model, and the chain verifying to it, not verified."""
    checker = importlib.import_module("webauthn.helpers.validate_certificate_chain")
    new_store = checker._generate_new_cert_store

    def store_back_then() -> X509Store:
        store: X509Store = new_store()
        store.set_time(ANDROID_KEY[name])
        return store

    monkeypatch.setattr(checker, "_generate_new_cert_store", store_back_then)
    fixture = _fixture(FIXTURES / f"{name}.json")
    raw = b64url_decode(fixture["registration"]["credential"]["response"]["attestationObject"])
    x5c = structures.attestation_object(raw).att_stmt["x5c"]
    google = x5c[-1]  # the chain's root: Google's hardware attestation root
    assert attestation._chains_to(x5c, [attestation._pem(google)])
    found = _examine(fixture, _metadata(fixture, google))
    assert found.attestation_type == "basic"
    assert not found.attestation_verified
