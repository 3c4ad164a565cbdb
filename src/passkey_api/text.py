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


def one_line(value: str, what: str) -> str:
    """A name as people see it: runs of whitespace collapsed to one space, not empty."""
    value = " ".join(value.split())
    if not value:
        raise ValidationFailed(f"The {what} is empty.")
    return value
