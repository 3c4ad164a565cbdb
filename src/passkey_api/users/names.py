"""Username rules: one account per name, however it is spelled or cased."""

from __future__ import annotations

import unicodedata

from passkey_api.errors import InvalidUsername

MAX_LENGTH = 64


def normalize(raw: str) -> tuple[str, str]:
    """Return (display form, uniqueness key) or raise InvalidUsername.

    NFKC folds compatibility look-alikes (full-width letters, ligatures) into one form,
    and casefold makes "Alice" and "ALICE" the same key.
    """
    name = unicodedata.normalize("NFKC", raw).strip()
    if not name:
        raise InvalidUsername("The username is empty.")
    if len(name) > MAX_LENGTH:
        raise InvalidUsername(f"The username is longer than {MAX_LENGTH} characters.")
    if any(unicodedata.category(ch)[0] in ("C", "Z") and ch != " " for ch in name):
        raise InvalidUsername("The username contains control or invisible characters.")
    key = unicodedata.normalize("NFKC", name.casefold())
    if len(key) > MAX_LENGTH:
        raise InvalidUsername(f"The username is longer than {MAX_LENGTH} characters.")
    return name, key


def from_hint(hint: str | None) -> str:
    """A username to offer an account created by a social sign-in, from what the provider
    calls the user (GitHub login, preferred_username, the email's local part): letters,
    digits, ".", "-" and "_" kept, at most 40 characters, "user" when nothing is left.
    It still goes through normalize(), and the caller makes it unique."""
    name = unicodedata.normalize("NFKC", hint or "").split("@")[0]
    kept = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name).strip(".-_")
    return kept[:40].strip(".-_") or "user"
