"""Strict base64url, as WebAuthn's JSON forms use it: the URL alphabet, no padding.

py_webauthn's decoder pads blindly and accepts `+`, `/`, `=` and stray characters, so
two different strings can name one credential. Every binary field is decoded here.
"""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(value: str) -> bytes:
    """Decode canonical unpadded base64url; raise ValueError on anything else."""
    if not _ALPHABET.fullmatch(value) or len(value) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except binascii.Error as exc:  # pragma: no cover - the checks above leave none
        raise ValueError("not unpadded base64url") from exc
    # Unused low bits of the last character must be zero, or the text is not canonical.
    if encode(data) != value:
        raise ValueError("non-canonical base64url")
    return data
