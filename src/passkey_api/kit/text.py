"""Free text the API stores or searches (display names, passkey names, search terms).

Control characters and lone surrogates are refused at the edge: PostgreSQL rejects U+0000
in text outright, SQLite would keep it, and neither belongs in a name shown to people.

Names shown to people (display names, passkey names) follow RFC 8266's Nickname profile
(NicknameCasePreserved, on RFC 8264's FreeformClass), as precis-i18n enforces it: NFKC,
other spaces made one ASCII space, and refused: controls, Default_Ignorable_Code_Point
(zero-width characters, soft hyphen, word joiner, BOM, and every Bidi_Control: the
embeddings, overrides and isolates, LRM, RLM, ALM), and a zero-width joiner or non-joiner
where its script does not need one. So a name reads as it is stored: `Alice<RLO>nimda`
cannot show an admin or an authenticator's account picker something else.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

import precis_i18n
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


_NICKNAME = precis_i18n.get_profile("NicknameCasePreserved")


def _nickname(value: str) -> str:
    if not value.strip():
        return ""  # empty: the service's to refuse (one_line), or sign-up's to fill in
    try:
        enforced: str = _NICKNAME.enforce(value)
    except UnicodeEncodeError as exc:
        # exc.reason is "DISALLOWED/<rule>"; the position is in the mapped string.
        rule = exc.reason.rpartition("/")[2]
        raise ValueError(f"not allowed in a name (RFC 8266): {rule}") from None
    return enforced


# A name shown to people: PlainText (which words the commoner refusals), then RFC 8266.
NameText = Annotated[PlainText, AfterValidator(_nickname)]

DisplayName = Annotated[NameText, AfterValidator(_fits_display)]

# The passkeys.name column: VARCHAR(64), counted in characters.
PASSKEY_NAME_LENGTH = 64


def _fits_passkey_name(value: str) -> str:
    # Checked on the enforced name: NFKC expands (U+FDFA is 18 characters), so a bound on
    # what was sent does not bound what is stored.
    if len(value) > PASSKEY_NAME_LENGTH:
        raise ValueError(f"name is longer than {PASSKEY_NAME_LENGTH} characters once normalised")
    return value


PasskeyName = Annotated[NameText, AfterValidator(_fits_passkey_name)]


def clean_name(value: str, limit: int) -> str | None:
    """A name from elsewhere (a social provider's profile) made one that NameText accepts,
    of at most `limit` bytes of UTF-8: what RFC 8266 refuses is dropped, not refused.
    None when nothing is left."""
    value = value[: 4 * limit]  # the work below is quadratic in what is refused
    for _ in range(8 * limit):
        if not value.strip():
            return None
        try:
            enforced: str = _NICKNAME.enforce(value)
        except UnicodeEncodeError as exc:
            if exc.end - exc.start != 1:  # the whole string (not idempotent): give up
                return None
            value = exc.object[: exc.start] + exc.object[exc.end :]
            continue
        clipped = clip_utf8(enforced, limit)
        if clipped == enforced:
            return enforced
        value = clipped  # enforced again: a clipped end may be a space or a lone joiner
    return None


def clip_utf8(value: str, limit: int) -> str:
    """The longest prefix of `value` of at most `limit` bytes of UTF-8."""
    return value.encode("utf-8")[:limit].decode("utf-8", "ignore")


def one_line(value: str, what: str) -> str:
    """A name as people see it: runs of whitespace collapsed to one space, not empty."""
    value = " ".join(value.split())
    if not value:
        raise ValidationFailed(f"The {what} is empty.")
    return value
