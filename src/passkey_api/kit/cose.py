"""Credential public keys (COSE_Key, RFC 9052 §7, RFC 9053) held to the profiles this
service accepts, and read into a `cryptography` public key.

A key is validated once, at registration, from the exact bytes the authenticator data
carries, and the same rules read it back at every sign-in: py_webauthn takes the curve
from `crv` and the hash from `alg` separately and checks neither against the other, so a
stored key that fitted no profile could mean something else at sign-in than anyone
meant (an ES256 `alg` over a P-521 point, an Ed25519 key that is a small-order point and
verifies every signature). A key fits exactly one profile, every label is known, and
every value has its one type and size:

- ES256 (-7): EC2 (kty 2), P-256 (crv 1), x and y 32 bytes each, a point on the curve;
- EdDSA (-8): OKP (kty 1), Ed25519 (crv 6), x 32 bytes, a canonical encoding of a point
  on the curve that is not of small order;
- RS256 (-257): RSA (kty 3), a modulus of 2048 to 4096 bits, exponent 65537.

These are the algorithms the service offers at registration (ceremonies/options.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypeGuard

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from passkey_api.kit import cbor

ES256 = -7
EDDSA = -8
RS256 = -257
ALGORITHMS = (EDDSA, ES256, RS256)

# COSE labels (RFC 9052 §7.1, RFC 9053 §7, RFC 8230 §4)
KTY, KID, ALG, KEY_OPS = 1, 2, 3, 4
KTY_OKP, KTY_EC2, KTY_RSA = 1, 2, 3
CRV_P256, CRV_ED25519 = 1, 6

MIN_RSA_BITS = 2048
# No authenticator makes larger keys; a huge one only costs storage and cache memory (and
# OpenSSL verifies nothing past 16384 bits).
MAX_RSA_BITS = 4096
RSA_EXPONENT = 65537

# P-256's field prime and curve coefficient b (FIPS 186-4 D.1.2.3; SEC 2 2.4.2).
_P256 = 2**256 - 2**224 + 2**192 + 2**96 - 1
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


class KeyRefused(ValueError):
    """The key fits no profile; `unsupported` when only its algorithm is the reason."""

    def __init__(self, reason: str, *, unsupported: bool = False) -> None:
        super().__init__(reason)
        self.unsupported = unsupported


PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class CoseKey:
    """A key that fits its profile: `alg`, and the validated numbers from which `key` (the
    `cryptography` public key) is made when first asked for. The validation itself is
    exact arithmetic here, so that a sign-up does not pay OpenSSL's key construction for
    a key py_webauthn builds again anyway."""

    alg: int
    numbers: ec.EllipticCurvePublicNumbers | rsa.RSAPublicNumbers | bytes

    @functools.cached_property
    def key(self) -> PublicKey:
        if isinstance(self.numbers, bytes):
            return ed25519.Ed25519PublicKey.from_public_bytes(self.numbers)
        return self.numbers.public_key()


def parse(value: Any) -> CoseKey:
    """A decoded COSE_Key (the CBOR map) held to the profiles."""
    if not isinstance(value, dict):
        raise KeyRefused("The credential public key is not a COSE_Key map.")
    alg, kty = value.get(ALG), value.get(KTY)
    if not _is_int(alg) or not _is_int(kty):
        raise KeyRefused("The COSE_Key's kty and alg must be integers.")
    if alg not in ALGORITHMS:
        raise KeyRefused(f"COSE algorithm {alg} is not accepted.", unsupported=True)
    # A kid is harmless and some authenticators may set one; nothing else is expected.
    if alg == ES256:
        return CoseKey(alg, _ec2_p256(value, kty))
    if alg == EDDSA:
        return CoseKey(alg, _okp_ed25519(value, kty))
    return CoseKey(alg, _rsa(value, kty))


def load(data: bytes) -> CoseKey:
    """A COSE_Key from its CBOR bytes (as stored), the whole input consumed."""
    try:
        value = cbor.decode(data)
    except cbor.CborError as exc:
        raise KeyRefused(f"The credential public key is not one CBOR item: {exc}") from None
    return parse(value)


@functools.lru_cache(maxsize=4096)
def load_stored(data: bytes) -> CoseKey:
    """load() for the key a sign-in reads back: the same bytes always give the same
    answer, and a user signs in with the same key again and again (a refusal is an
    exception and is not cached)."""
    return load(data)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _labels(value: dict[Any, Any], expected: set[int]) -> None:
    extra = set(value) - expected - {KID}
    if extra:
        raise KeyRefused(f"The COSE_Key has unexpected labels {sorted(map(str, extra))}.")
    if KID in value and not isinstance(value[KID], bytes):
        raise KeyRefused("The COSE_Key's kid is not a byte string.")


def _coordinate(value: dict[Any, Any], label: int, size: int) -> bytes:
    raw = value.get(label)
    if not isinstance(raw, bytes) or len(raw) != size:
        raise KeyRefused(f"COSE_Key parameter {label} must be {size} bytes.")
    return raw


def _ec2_p256(value: dict[Any, Any], kty: int) -> ec.EllipticCurvePublicNumbers:
    if kty != KTY_EC2 or value.get(-1) != CRV_P256 or not _is_int(value.get(-1)):
        raise KeyRefused("ES256 needs an EC2 key on P-256.")
    _labels(value, {KTY, ALG, -1, -2, -3})
    x = int.from_bytes(_coordinate(value, -2, 32), "big")
    y = int.from_bytes(_coordinate(value, -3, 32), "big")
    if x >= _P256 or y >= _P256:
        raise KeyRefused("An EC2 coordinate is not a field element.")
    # On the curve y^2 = x^3 - 3x + b: all a P-256 point needs (its cofactor is 1, and the
    # point at infinity has no affine coordinates).
    if (y * y - (x * x * x - 3 * x + _P256_B)) % _P256:
        raise KeyRefused("The EC2 point is not on P-256.")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1())


def _okp_ed25519(value: dict[Any, Any], kty: int) -> bytes:
    if kty != KTY_OKP or value.get(-1) != CRV_ED25519 or not _is_int(value.get(-1)):
        raise KeyRefused("EdDSA needs an OKP key on Ed25519.")
    _labels(value, {KTY, ALG, -1, -2})
    x = _coordinate(value, -2, 32)
    if not ed25519_point_is_sound(x):
        raise KeyRefused("The Ed25519 key is not a point of the prime-order group.")
    return x


def _rsa(value: dict[Any, Any], kty: int) -> rsa.RSAPublicNumbers:
    if kty != KTY_RSA:
        raise KeyRefused("RS256 needs an RSA key.")
    _labels(value, {KTY, ALG, -1, -2})
    n, e = value.get(-1), value.get(-2)
    if not isinstance(n, bytes) or not isinstance(e, bytes):
        raise KeyRefused("An RSA key's n and e must be byte strings.")
    modulus, exponent = int.from_bytes(n, "big"), int.from_bytes(e, "big")
    if not MIN_RSA_BITS <= modulus.bit_length() <= MAX_RSA_BITS or modulus % 2 == 0:
        raise KeyRefused(
            f"An RSA modulus must be odd and of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits."
        )
    if exponent != RSA_EXPONENT:
        raise KeyRefused(f"An RSA exponent must be {RSA_EXPONENT}.")
    return rsa.RSAPublicNumbers(exponent, modulus)


# --- Ed25519 points (RFC 8032 §5.1.3) ----------------------------------------------------
# cryptography takes any 32 bytes as an Ed25519 public key; OpenSSL decodes the point only
# when it verifies, and a small-order point (the identity, say) then verifies a signature
# made without any secret. So the point is decoded here, and multiplied by the cofactor.

_ED_P = 2**255 - 19
_ED_D = -121665 * pow(121666, -1, _ED_P) % _ED_P
_ED_SQRT_M1 = pow(2, (_ED_P - 1) // 4, _ED_P)


def _ed_decode(encoded: bytes) -> tuple[int, int] | None:
    """The affine point of a canonical encoding, or None (not canonical, not on the curve)."""
    y = int.from_bytes(encoded, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _ED_P:
        return None
    u, v = (y * y - 1) % _ED_P, (_ED_D * y * y + 1) % _ED_P
    x2 = u * pow(v, -1, _ED_P) % _ED_P
    x = pow(x2, (_ED_P + 3) // 8, _ED_P)
    if (x * x - x2) % _ED_P:
        x = x * _ED_SQRT_M1 % _ED_P
    if (x * x - x2) % _ED_P:
        return None
    if x == 0 and sign:
        return None  # -0: a second encoding of the same point
    if x & 1 != sign:
        x = _ED_P - x
    return x, y


def _ed_double(point: tuple[int, int]) -> tuple[int, int]:
    # Twisted Edwards addition with a = -1 is complete, so it doubles every point.
    x, y = point
    t = _ED_D * x * x * y * y % _ED_P
    return (
        2 * x * y * pow(1 + t, -1, _ED_P) % _ED_P,
        (y * y + x * x) * pow(1 - t, -1, _ED_P) % _ED_P,
    )


def ed25519_point_is_sound(encoded: bytes) -> bool:
    """A canonical encoding of a curve point whose order is not a divisor of 8."""
    point = _ed_decode(encoded)
    if point is None:
        return False
    for _ in range(3):
        point = _ed_double(point)
    return point != (0, 1)
