"""The software authenticator's output must pass the real py_webauthn verifier.

If these fail, API tests built on ``tests.softauthn`` prove nothing, so every alg and
attestation format is checked end to end against ``webauthn`` itself.
"""

from __future__ import annotations

import json
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    options_to_json_dict,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AttestationFormat,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
)

from tests.softauthn import (
    EDDSA,
    ES256,
    RS256,
    SoftAuthenticator,
    b64url,
    b64url_decode,
    tamper,
)

ORIGIN = "http://localhost:8000"
RP_ID = "localhost"


def registration_options(**kwargs: Any) -> dict[str, Any]:
    options = generate_registration_options(
        rp_id=RP_ID, rp_name="passkey-api", user_name="alice", **kwargs
    )
    return options_to_json_dict(options)


def authentication_options(allow: list[bytes] | None = None) -> dict[str, Any]:
    options = generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=i) for i in allow or []],
    )
    return options_to_json_dict(options)


def register(auth: SoftAuthenticator, **create_kwargs: Any) -> tuple[dict[str, Any], Any]:
    options = registration_options()
    response = auth.create(options, origin=ORIGIN, **create_kwargs)
    verified = verify_registration_response(
        credential=response,
        expected_challenge=b64url_decode(options["challenge"]),
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
    )
    return response, verified


def authenticate(
    auth: SoftAuthenticator,
    public_key: bytes,
    current_sign_count: int,
    allow: list[bytes] | None = None,
    **get_kwargs: Any,
) -> Any:
    options = authentication_options(allow)
    response = auth.get(options, origin=ORIGIN, **get_kwargs)
    return verify_authentication_response(
        credential=response,
        expected_challenge=b64url_decode(options["challenge"]),
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=public_key,
        credential_current_sign_count=current_sign_count,
    )


@pytest.mark.parametrize(
    ("alg", "attestation"),
    [
        (ES256, "none"),
        (EDDSA, "none"),
        (RS256, "none"),
        (ES256, "packed"),
        (EDDSA, "packed"),
        (RS256, "packed"),
        (ES256, "fido-u2f"),
    ],
)
def test_register_then_authenticate(alg: int, attestation: str) -> None:
    auth = SoftAuthenticator(alg=alg, attestation=attestation)
    response, reg = register(auth)

    assert reg.fmt == AttestationFormat(attestation)
    assert reg.sign_count == 0
    assert reg.user_verified
    assert b64url(reg.credential_id) == response["id"] == response["rawId"]
    cred = auth.credentials[reg.credential_id]
    assert reg.credential_public_key == cred.cose_public_key()
    assert cbor2.loads(reg.credential_public_key)[3] == alg
    # The SPKI publicKey must be the same key py_webauthn decodes from the COSE one.
    from_cose = decoded_public_key_to_cryptography(
        decode_credential_public_key(reg.credential_public_key)
    )
    spki = from_cose.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert b64url_decode(response["response"]["publicKey"]) == spki
    assert response["response"]["publicKeyAlgorithm"] == alg

    first = authenticate(auth, reg.credential_public_key, reg.sign_count, [reg.credential_id])
    assert first.credential_id == reg.credential_id
    assert first.new_sign_count == 1
    second = authenticate(auth, reg.credential_public_key, first.new_sign_count)
    assert second.new_sign_count == 2


def test_json_shapes_match_browser_to_json() -> None:
    auth = SoftAuthenticator()
    options = registration_options()
    options["extensions"] = {"credProps": True}
    reg = auth.create(options, origin=ORIGIN)
    assert reg["type"] == "public-key"
    assert reg["authenticatorAttachment"] == "platform"
    assert reg["clientExtensionResults"] == {"credProps": {"rk": True}}
    assert reg["response"]["transports"] == ["internal"]
    client_data = json.loads(b64url_decode(reg["response"]["clientDataJSON"]))
    assert client_data == {
        "type": "webauthn.create",
        "challenge": options["challenge"],
        "origin": ORIGIN,
        "crossOrigin": False,
    }
    for value in (reg["id"], reg["response"]["attestationObject"]):
        assert "=" not in value

    assertion = auth.get(authentication_options(), origin=ORIGIN, top_origin="https://top.test")
    assert set(assertion["response"]) == {
        "clientDataJSON",
        "authenticatorData",
        "signature",
        "userHandle",
    }
    assert b64url_decode(assertion["response"]["userHandle"]) == b64url_decode(
        options["user"]["id"]
    )
    client_data = json.loads(b64url_decode(assertion["response"]["clientDataJSON"]))
    assert client_data["type"] == "webauthn.get"
    assert client_data["topOrigin"] == "https://top.test"


def test_cred_props_only_when_requested() -> None:
    auth = SoftAuthenticator(discoverable=False)
    assert auth.create(registration_options(), origin=ORIGIN)["clientExtensionResults"] == {}
    options = registration_options()
    options["extensions"] = {"credProps": True}
    response = auth.create(options, origin=ORIGIN)
    assert response["clientExtensionResults"] == {"credProps": {"rk": False}}


def test_non_discoverable_credential_sends_null_user_handle() -> None:
    auth = SoftAuthenticator(
        discoverable=False, user_verifying=False, attestation="fido-u2f", attachment=None
    )
    _, reg = register(auth)
    options = authentication_options([reg.credential_id])
    response = auth.get(options, origin=ORIGIN)
    assert response["response"]["userHandle"] is None
    assert response["authenticatorAttachment"] is None
    verified = verify_authentication_response(
        credential=response,
        expected_challenge=b64url_decode(options["challenge"]),
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=reg.credential_public_key,
        credential_current_sign_count=0,
    )
    assert not verified.user_verified
    # Usernameless sign-in (empty allowCredentials) cannot find it, as in a browser.
    with pytest.raises(ValueError, match="NotAllowedError"):
        auth.get(authentication_options(), origin=ORIGIN)


def test_tampered_signature_fails() -> None:
    for alg in (ES256, EDDSA, RS256):
        auth = SoftAuthenticator(alg=alg)
        _, reg = register(auth)
        options = authentication_options([reg.credential_id])
        response = auth.get(options, origin=ORIGIN)
        response["response"]["signature"] = tamper(response["response"]["signature"])
        with pytest.raises(InvalidAuthenticationResponse, match="signature"):
            verify_authentication_response(
                credential=response,
                expected_challenge=b64url_decode(options["challenge"]),
                expected_rp_id=RP_ID,
                expected_origin=ORIGIN,
                credential_public_key=reg.credential_public_key,
                credential_current_sign_count=0,
            )


def test_counter_step_zero_keeps_sign_count_zero() -> None:
    auth = SoftAuthenticator(counter_step=0, backup_eligible=True, backup_state=True)
    _, reg = register(auth)
    assert reg.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    assert reg.credential_backed_up
    for _ in range(3):
        verified = authenticate(auth, reg.credential_public_key, 0)
        assert verified.new_sign_count == 0
    assert auth.credentials[reg.credential_id].sign_count == 0


def test_sign_count_override_is_rejected_as_replay() -> None:
    auth = SoftAuthenticator()
    _, reg = register(auth)
    first = authenticate(auth, reg.credential_public_key, 0)
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        authenticate(auth, reg.credential_public_key, first.new_sign_count, sign_count=1)
    # The override did not advance the stored counter.
    assert authenticate(auth, reg.credential_public_key, 1).new_sign_count == 2


def test_forged_rp_id_and_origin_are_rejected() -> None:
    auth = SoftAuthenticator()
    with pytest.raises(InvalidRegistrationResponse, match="RP ID hash"):
        register(auth, rp_id="evil.example")
    with pytest.raises(InvalidRegistrationResponse, match="origin"):
        _register_from(auth, "https://evil.example")
    _, reg = register(auth)
    with pytest.raises(InvalidAuthenticationResponse, match="RP ID hash"):
        authenticate(auth, reg.credential_public_key, 0, rp_id="evil.example")
    with pytest.raises(InvalidAuthenticationResponse, match="challenge"):
        authenticate(auth, reg.credential_public_key, 0, challenge=b64url(b"x" * 32))
    with pytest.raises(InvalidAuthenticationResponse, match="client data type"):
        authenticate(auth, reg.credential_public_key, 0, client_data_type="webauthn.create")


def _register_from(auth: SoftAuthenticator, origin: str) -> None:
    options = registration_options()
    response = auth.create(options, origin=origin)
    verify_registration_response(
        credential=response,
        expected_challenge=b64url_decode(options["challenge"]),
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
    )


def test_client_side_refusals() -> None:
    auth = SoftAuthenticator(alg=EDDSA)
    _, reg = register(auth)
    with pytest.raises(ValueError, match="InvalidStateError"):
        auth.create(
            registration_options(
                exclude_credentials=[PublicKeyCredentialDescriptor(id=reg.credential_id)]
            ),
            origin=ORIGIN,
        )
    options = registration_options()
    options["pubKeyCredParams"] = [{"type": "public-key", "alg": ES256}]
    with pytest.raises(ValueError, match="NotSupportedError"):
        auth.create(options, origin=ORIGIN)
    with pytest.raises(ValueError, match="NotAllowedError"):
        auth.get(authentication_options([b"unknown"]), origin=ORIGIN)
    with pytest.raises(ValueError, match="NotAllowedError"):
        auth.get(authentication_options(), origin=ORIGIN, credential_id=b"unknown")


def test_fido_u2f_needs_es256_and_zero_aaguid() -> None:
    with pytest.raises(ValueError, match="fido-u2f"):
        SoftAuthenticator(alg=EDDSA, attestation="fido-u2f")
    with pytest.raises(ValueError, match="fido-u2f"):
        SoftAuthenticator(aaguid=b"\x01" * 16, attestation="fido-u2f")


def test_b64url_and_tamper() -> None:
    for n in range(8):
        data = bytes(range(250, 250 - n, -1))
        encoded = b64url(data)
        assert "=" not in encoded
        assert b64url_decode(encoded) == data
    original = b64url(b"\x00\xff\x10")
    tampered = b64url_decode(tamper(original))
    diff = [a ^ b for a, b in zip(tampered, b64url_decode(original), strict=True)]
    assert sorted(diff) == [0, 0, 1]
