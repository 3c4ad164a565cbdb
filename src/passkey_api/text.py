"""Free text the API stores or searches (display names, passkey names, search terms).

Control characters and lone surrogates are refused at the edge: PostgreSQL rejects U+0000
in text outright, SQLite would keep it, and neither belongs in a name shown to people.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

from passkey_api.errors import ValidationFailed


def _printable(value: str) -> str:
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("control characters are not allowed")
    return value


PlainText = Annotated[str, AfterValidator(_printable)]

# What an authenticator keeps of a user's display name (WebAuthn L3 §5.4.3): counted in
# bytes, so that the name a passkey shows is the name the account has.
DISPLAY_NAME_BYTES = 64


def _fits_display(value: str) -> str:
    if len(value.encode("utf-8")) > DISPLAY_NAME_BYTES:
        raise ValueError(f"display_name is longer than {DISPLAY_NAME_BYTES} bytes of UTF-8")
    return value


DisplayName = Annotated[PlainText, AfterValidator(_fits_display)]


def clip_utf8(value: str, limit: int) -> str:
    """The longest prefix of `value` of at most `limit` bytes of UTF-8."""
    return value.encode("utf-8")[:limit].decode("utf-8", "ignore")


def one_line(value: str, what: str) -> str:
    """A name as people see it: runs of whitespace collapsed to one space, not empty."""
    value = " ".join(value.split())
    if not value:
        raise ValidationFailed(f"The {what} is empty.")
    return value
