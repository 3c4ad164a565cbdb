"""Property tests for the parsing edges: whatever bytes or JSON arrive, the parsers either
succeed or raise the API's own error (never anything that would become a 500)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from passkey_api.ceremonies import attestation, checks, structures
from passkey_api.ceremonies.schemas import AuthenticationResponseJSON, RegistrationResponseJSON
from passkey_api.config import Settings
from passkey_api.errors import ApiError
from tests.softauthn import SoftAuthenticator, b64url

ORIGIN = "http://localhost:8000"
SETTINGS = Settings(rp_id="localhost", origins=[ORIGIN], secret_key="k" * 40)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=64) | st.text(max_size=16),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.integers() | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.binary(max_size=512))
def test_client_data_from_any_bytes(raw: bytes) -> None:
    with contextlib.suppress(ApiError):
        checks.client_data(raw)


@given(json_values)
def test_client_data_from_any_json(value: Any) -> None:
    with contextlib.suppress(ApiError):
        checks.client_data(json.dumps(value).encode())


@given(st.binary(max_size=300))
def test_authenticator_data_from_any_bytes(raw: bytes) -> None:
    with contextlib.suppress(ApiError):
        structures.authenticator_data(raw, registration=False)
    with contextlib.suppress(ApiError):
        structures.authenticator_data(raw, registration=True)


@given(cbor_values)
def test_attestation_object_from_any_cbor(value: Any) -> None:
    with contextlib.suppress(ApiError):
        structures.attestation_object(cbor2.dumps(value))


@given(json_values)
def test_credential_schemas_accept_or_refuse_cleanly(value: Any) -> None:
    for model in (RegistrationResponseJSON, AuthenticationResponseJSON):
        with contextlib.suppress(ValidationError):
            model.model_validate(value)


def _registration() -> tuple[dict[str, Any], bytes]:
    options = {
        "rp": {"id": "localhost", "name": "x"},
        "user": {"id": b64url(b"u" * 16), "name": "a", "displayName": "a"},
        "challenge": b64url(b"c" * 32),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "extensions": {"credProps": True},
    }
    return SoftAuthenticator().create(options, origin=ORIGIN), b"c" * 32


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(st.data())
def test_mutated_attestation_objects_fail_cleanly(data: st.DataObject) -> None:
    credential, challenge = _registration()
    raw = bytearray(RegistrationResponseJSON.model_validate(credential).response.attestationObject)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    credential["response"]["attestationObject"] = b64url(bytes(raw))
    parsed = RegistrationResponseJSON.model_validate(credential)
    client_data = checks.client_data(parsed.response.clientDataJSON)
    assert client_data.challenge == challenge
    with contextlib.suppress(ApiError):
        attestation.verify(SETTINGS, parsed, client_data, require_uv=False)


def test_a_valid_attestation_still_verifies() -> None:
    """The mutation test above is only meaningful if the unmutated input verifies."""
    credential, _ = _registration()
    parsed = RegistrationResponseJSON.model_validate(credential)
    client_data = checks.client_data(parsed.response.clientDataJSON)
    verified = attestation.verify(SETTINGS, parsed, client_data, require_uv=False)
    assert verified.credential_id == parsed.rawId


@pytest.mark.parametrize("depth", [100, 5000])
def test_deep_nesting(depth: int) -> None:
    with pytest.raises(ApiError):
        checks.client_data(b"[" * depth)
    with contextlib.suppress(ApiError):
        structures.attestation_object(b"\x81" * depth + b"\x00")
