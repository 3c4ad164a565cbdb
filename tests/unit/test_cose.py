"""cose.py: the credential public keys the service accepts, and every key the reviews
found accepted before (issue: only valid keys are stored, and only those verify)."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from passkey_api.kit import cose

ED25519_P = 2**255 - 19


def _ec(curve: ec.EllipticCurve, size: int) -> tuple[bytes, bytes]:
    numbers = ec.generate_private_key(curve).public_key().public_numbers()
    return numbers.x.to_bytes(size, "big"), numbers.y.to_bytes(size, "big")


def _p256() -> dict[int, Any]:
    x, y = _ec(ec.SECP256R1(), 32)
    return {1: 2, 3: -7, -1: 1, -2: x, -3: y}


def _ed25519() -> dict[int, Any]:
    raw = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return {1: 1, 3: -8, -1: 6, -2: raw}


def _rsa(bits: int = 2048, e: int = 65537) -> dict[int, Any]:
    numbers = rsa.generate_private_key(65537, 2048 if bits < 2048 else bits).public_key()
    n = numbers.public_numbers().n
    if bits < 2048:  # cryptography refuses to make such keys: any odd number will do
        n = (1 << (bits - 1)) | 1
    return {1: 3, 3: -257, -1: n.to_bytes((n.bit_length() + 7) // 8, "big"), -2: _int(e)}


def _int(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _with(key: dict[int, Any], **changes: Any) -> dict[int, Any]:
    labels = {"kty": 1, "alg": 3, "crv": -1, "x": -2, "y": -3, "n": -1, "e": -2}
    changed = dict(key)
    for name, value in changes.items():
        changed[labels[name]] = value
    return changed


@pytest.mark.parametrize(
    ("make", "alg", "kind"),
    [
        (_p256, -7, ec.EllipticCurvePublicKey),
        (_ed25519, -8, ed25519.Ed25519PublicKey),
        (_rsa, -257, rsa.RSAPublicKey),
    ],
)
def test_the_three_profiles_load(make: Any, alg: int, kind: type) -> None:
    key = cose.load(cbor2.dumps(make()))
    assert key.alg == alg
    assert isinstance(key.key, kind)


def test_rsa_3072_and_a_kid_are_fine() -> None:
    assert cose.load(cbor2.dumps(_rsa(3072))).alg == -257
    assert cose.load(cbor2.dumps({**_p256(), 2: b"key-1"})).alg == -7


def _p384_point() -> dict[str, bytes]:
    x, y = _ec(ec.SECP384R1(), 48)
    return {"x": x, "y": y}


def _p521_point() -> dict[str, bytes]:
    x, y = _ec(ec.SECP521R1(), 66)
    return {"x": x, "y": y}


def _off_curve() -> dict[str, bytes]:
    key = _p256()
    y = int.from_bytes(key[-3], "big")
    return {"y": ((y + 1) % (2**256 - 2**224 + 2**192 + 2**96 - 1)).to_bytes(32, "big")}


def _x25519() -> bytes:
    return (
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


# Each of these was stored by a sign-up before, and handed to py_webauthn at sign-in.
REFUSED: dict[str, Any] = {
    "ES256 on a P-384 point": lambda: _with(_p256(), crv=2, **_p384_point()),
    "ES256 on a P-521 point": lambda: _with(_p256(), crv=3, **_p521_point()),
    "ES256 with a P-384 point, crv 1": lambda: _with(_p256(), **_p384_point()),
    "EC2 x of 31 bytes": lambda: _with(_p256(), x=_p256()[-2][1:]),
    "EC2 x of 33 bytes": lambda: _with(_p256(), x=b"\0" + _p256()[-2]),
    "EC2 y of 48 bytes": lambda: _with(_p256(), y=bytes(16) + _p256()[-3]),
    "EC2 point off the curve": lambda: _with(_p256(), **_off_curve()),
    "EC2 x past the field prime": lambda: _with(_p256(), x=b"\xff" * 32),
    "crv as the text P-256": lambda: _with(_p256(), crv="P-256"),
    "crv as true": lambda: _with(_p256(), crv=True),
    "alg as a float": lambda: _with(_p256(), alg=-7.0),
    "kty as text": lambda: _with(_p256(), kty="EC2"),
    "alg missing": lambda: {k: v for k, v in _p256().items() if k != 3},
    "an OKP key on X25519": lambda: _with(_ed25519(), crv=4, x=_x25519()),
    "Ed25519 identity (small order)": lambda: _with(_ed25519(), x=b"\x01" + bytes(31)),
    "Ed25519 order 2": lambda: _with(_ed25519(), x=(ED25519_P - 1).to_bytes(32, "little")),
    "Ed25519 order 4": lambda: _with(_ed25519(), x=bytes(32)),
    "Ed25519 order 8": lambda: _with(
        _ed25519(),
        x=bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    ),
    "Ed25519 non-canonical y": lambda: _with(_ed25519(), x=(ED25519_P + 1).to_bytes(32, "little")),
    "Ed25519 x of 31 bytes": lambda: _with(_ed25519(), x=bytes(31)),
    "EC2 with EdDSA": lambda: _with(_p256(), alg=-8),
    "OKP with ES256": lambda: _with(_ed25519(), alg=-7),
    "RSA with ES256": lambda: _with(_rsa(), alg=-7),
    "RSA with EdDSA": lambda: _with(_rsa(), alg=-8),
    "RSA of 1024 bits": lambda: _rsa(1024),
    "RSA of 64 bits": lambda: _rsa(64),
    "RSA with e = 1": lambda: _rsa(e=1),
    "RSA with an even e": lambda: _rsa(e=65536),
    "RSA with e = 3": lambda: _rsa(e=3),
    "RSA with an even modulus": lambda: _with(_rsa(), n=b"\x80" + bytes(255)),
    "a private key inside": lambda: {**_p256(), -4: b"\x01" * 32},
    "an unknown label": lambda: {**_p256(), 99: 0},
    "a kid that is not bytes": lambda: {**_p256(), 2: "key-1"},
    "the CBOR integer 4": lambda: 4,
    "an array": lambda: [2, -7],
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused(name: str) -> None:
    with pytest.raises(cose.KeyRefused) as refused:
        cose.load(cbor2.dumps(REFUSED[name]()))
    assert not refused.value.unsupported


@pytest.mark.parametrize("alg", [-35, -36, -37, -65535, -47, -19, 1])
def test_algorithms_not_offered_are_unsupported(alg: int) -> None:
    with pytest.raises(cose.KeyRefused) as refused:
        cose.load(cbor2.dumps(_with(_p256(), alg=alg)))
    assert refused.value.unsupported


def test_the_raw_u2f_point_form_is_refused() -> None:
    """py_webauthn reads bytes starting with 0x04 as an uncompressed U2F point."""
    key = _p256()
    with pytest.raises(cose.KeyRefused):
        cose.load(b"\x04" + key[-2] + key[-3])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(cose.KeyRefused):
        cose.load(cbor2.dumps(_p256()) + b"\x00")


def test_every_small_order_point_is_refused() -> None:
    """The points of order dividing 8 (y = 1, -1, 0, and the two order-8 y values), in
    both signs of x: none passes, and random keys all do."""
    small = [
        b"\x01" + bytes(31),  # the identity
        (1 | 1 << 255).to_bytes(32, "little"),  # -0 for x: the identity again
        (ED25519_P - 1).to_bytes(32, "little"),  # order 2
        bytes(32),  # order 4
        (1 << 255).to_bytes(32, "little"),  # order 4, other x
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
        bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    ]
    for encoded in small:
        assert not cose.ed25519_point_is_sound(encoded), encoded.hex()
    for _ in range(50):
        assert cose.ed25519_point_is_sound(_ed25519()[-2])


def test_the_identity_key_verifies_anything() -> None:
    """Why the small-order check exists: cryptography takes the identity as an Ed25519
    key, and R = identity, S = 0 then verifies every message, without any secret."""
    identity = b"\x01" + bytes(31)
    ed25519.Ed25519PublicKey.from_public_bytes(identity).verify(
        identity + bytes(32), b"any message at all"
    )
    with pytest.raises(cose.KeyRefused):
        cose.load(cbor2.dumps(_with(_ed25519(), x=identity)))
