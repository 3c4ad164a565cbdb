"""What a secret must not be: a placeholder, one this project shipped as an example, or
plainly not random; and the refusal of a shared database without a shared key."""

from __future__ import annotations

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret"}


# Words that mark a value as an example someone was meant to replace, and the values this
# project has shipped as examples (a known secret forges sessions and, through the decoys,
# tells which usernames exist).
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
