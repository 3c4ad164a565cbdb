"""What a secret must not be: a placeholder, one this project shipped as an example, or
plainly not random; the refusal of a shared database without a shared key; and the
secret key as the service holds it during a rotation (SecretKey)."""

from __future__ import annotations

from collections.abc import Iterable

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret"}


# Words that mark a value as an example someone was meant to replace, and the values this
# project has shipped as examples (a known secret passes the signature check of session
# values and, with a copy of the database, opens old-form recovery codes to a search).
_PLACEHOLDER_MARKS = ("changeme", "change-me", "change_me", "replace-me", "placeholder", "example")


SHIPPED_SECRETS = {
    "change-me-to-at-least-32-random-characters",
    "dev-only-secret-change-me-0123456789abcdef",
    "change-me-too",
    "postgres",
    "password",
}


SECRET_MIN_LENGTH = 32


# Random keys of 32 characters or more use far more different characters than this.
_SECRET_MIN_SYMBOLS = 8


def known_placeholder(value: str) -> bool:
    """Whether a secret is empty, one this project shipped, or marked as an example."""
    folded = value.strip().lower()
    return (
        folded in PLACEHOLDER_SECRETS
        or folded in SHIPPED_SECRETS
        or any(mark in folded for mark in _PLACEHOLDER_MARKS)
    )


def placeholder_secret(value: str) -> bool:
    """Whether a key is a known placeholder or plainly not random (few characters)."""
    return known_placeholder(value) or len(set(value.strip().lower())) < _SECRET_MIN_SYMBOLS


class MissingSecretKey(RuntimeError):
    """A shared database without PASSKEY_SECRET_KEY: every replica would make its own."""

    def __init__(self) -> None:
        super().__init__(UNSHARED_KEY_PROBLEM)


UNSHARED_KEY_PROBLEM = (
    "PASSKEY_SECRET_KEY is not set but PASSKEY_DATABASE_URL is: every replica would make "
    "its own key (sessions refused by the next replica, recovery codes void after a "
    "redeploy); a generated key is for the embedded SQLite backend only"
)


class SecretKey(bytes):
    """The secret key as the service holds it: the bytes of PASSKEY_SECRET_KEY, which sign
    and key everything made from now on, carrying the keys it replaced
    (PASSKEY_SECRET_KEY_PREVIOUS), which what verifies or looks up a value made before
    still accepts during a rotation (`accepted`: this key first). Being the current key's
    bytes, it goes wherever a key did; only verifiers ask for more (kit/keys.py)."""

    previous: tuple[bytes, ...]
    accepted: tuple[bytes, ...]

    def __new__(cls, current: bytes, previous: Iterable[bytes] = ()) -> SecretKey:
        key = super().__new__(cls, current)
        key.previous = tuple(dict.fromkeys(old for old in previous if old and old != current))
        key.accepted = (bytes(current), *key.previous)
        return key

    def __repr__(self) -> str:
        return f"SecretKey(<hidden>, {len(self.previous)} previous)"
