"""Strict base64url, as WebAuthn's JSON forms use it: the URL alphabet, no padding.

py_webauthn's decoder pads blindly and accepts `+`, `/`, `=` and stray characters, so
two different strings can name one credential. Every binary field is decoded here.

Both directions call binascii directly: the `base64` module's wrappers cost more than
the conversion for the sizes WebAuthn sends, and these run several times a ceremony.
"""

from __future__ import annotations

import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_URL_SAFE = bytes.maketrans(b"+/", b"-_")
_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")  # by the text's length modulo 4 (1 is never valid)
_URL_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {digit: value for value, digit in enumerate(_URL_DIGITS)}
# A text of 4n+2 characters carries 4 unused low bits in its last digit, 4n+3 carries 2.
_UNUSED_BITS = (0, 0, 0b1111, 0b11)


def encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=").decode()


def decode(value: str) -> bytes:
    """Decode canonical unpadded base64url; raise ValueError on anything else."""
    rest = len(value) % 4
    if rest == 1 or not _ALPHABET.fullmatch(value):
        raise ValueError("not unpadded base64url")
    # Unused low bits of the last digit must be zero, or the text is not canonical: two
    # texts would decode to the same bytes.
    if rest and _VALUE[value[-1]] & _UNUSED_BITS[rest]:
        raise ValueError("non-canonical base64url")
    try:
        return binascii.a2b_base64(
            value.encode().translate(_STANDARD) + _PADDING[rest], strict_mode=True
        )
    except binascii.Error as exc:  # pragma: no cover - the checks above leave none
        raise ValueError("not unpadded base64url") from exc
