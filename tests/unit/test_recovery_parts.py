"""Recovery codes, addresses and their settings (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from passkey_api.config import Settings
from passkey_api.errors import InvalidEmail
from passkey_api.kit.client_info import ClientInfo
from passkey_api.recovery import codes, emails

KEY = b"k" * 32


def test_codes_are_grouped_from_the_alphabet_and_distinct() -> None:
    made = codes.new_codes()
    assert len(set(made)) == codes.COUNT
    for code in made:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4, 4]
        assert set("".join(groups)) <= set(codes.ALPHABET)
    # The first group names the code among the user's (distinct within a set)...
    assert len({code[:4] for code in made}) == codes.COUNT
    # ...and the 12 symbols after it are the secret: 60 bits, above the 50 asked for.
    assert codes.LENGTH * (len(codes.ALPHABET).bit_length() - 1) >= 60
    assert not set("01IO") & set(codes.ALPHABET)


def test_typed_codes_are_read_back_and_old_ones_are_not() -> None:
    typed = codes.parse(" abcd efgh-jk23\u00a0mnpq ")
    assert typed == codes.Typed(lookup="ABCD", secret="EFGHJK23MNPQ")
    for other in ("ABCD-EFGH-JK23", "ABCD-EFGH-JK23-MNP0", "ABCD-EFGH-JK23-MNPQR", "\ud800" * 16):
        assert codes.parse(other) is None, other


def test_the_slow_hash_is_salted_and_bound_to_user_and_code() -> None:
    user = uuid.uuid4()
    code = codes.new_code()
    stored = codes.store(user, code)
    assert len(stored.salt) == 16
    again = codes.store(user, code)
    assert (again.salt, again.code_hash) != (stored.salt, stored.code_hash)
    typed = codes.parse(code)
    assert typed is not None
    assert typed.lookup == stored.lookup
    assert codes.slow_hash(user, typed, stored.salt) == stored.code_hash
    assert codes.slow_hash(uuid.uuid4(), typed, stored.salt) != stored.code_hash
    other = codes.parse(code[:-1] + ("2" if code[-1] != "2" else "3"))
    assert other is not None
    assert codes.slow_hash(user, other, stored.salt) != stored.code_hash


def test_typing_variants_hash_alike_and_users_apart() -> None:
    user = uuid.uuid4()
    code = "ABCD-EFGH-JK23"
    expected = codes.digest(KEY, user, code)
    full_width = "".join(chr(ord(ch) + 0xFEE0) if ch != "-" else ch for ch in code)
    for typed in ("abcd-efgh-jk23", " ABCD EFGH JK23 ", "ABCDEFGHJK23", full_width):
        assert codes.digest(KEY, user, typed) == expected, typed
    assert codes.digest(KEY, uuid.uuid4(), code) != expected
    assert codes.digest(b"other" * 8, user, code) != expected
    assert codes.digest(KEY, user, "ABCD-EFGH-JK24") != expected


def test_odd_input_hashes_without_error() -> None:
    for typed in ("\ud800", "", "x" * 64, "\u0000"):
        assert len(codes.digest(KEY, uuid.uuid4(), typed)) == 32


def test_addresses_are_normalised() -> None:
    assert emails.normalize("  Alice.Smith+x@Example.COM ") == "alice.smith+x@example.com"
    for bad in ("alice", "alice@", "@example.com", "a@b", "a b@c.de", "é@c.de", "a@-b.cd"):
        with pytest.raises(InvalidEmail):
            emails.normalize(bad)


def test_links_carry_the_token_in_the_fragment() -> None:
    assert emails.link("https://app.example.com/recover", "T") == (
        "https://app.example.com/recover#token=T"
    )


def test_recovery_settings_are_checked() -> None:
    base = {"rp_id": "example.com", "origins": "https://example.com"}
    Settings(**base, recovery_url="https://example.com/recover")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="PASSKEY_RECOVERY_URL"):
        Settings(**base, recovery_url="https://evil.example/recover")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="PASSKEY_RECOVERY_URL"):
        Settings(**base, recovery_url="https://example.com/recover#x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="PASSKEY_SMTP_FROM"):
        Settings(**base, smtp_host="smtp.example.com")  # type: ignore[arg-type]
    on = Settings(
        **base,  # type: ignore[arg-type]
        smtp_host="smtp.example.com",
        smtp_from="no-reply@example.com",
        recovery_url="https://example.com/recover",
    )
    assert on.email_recovery
    assert not Settings(**base).email_recovery  # type: ignore[arg-type]


def test_notices_hold_the_client_on_one_line_and_no_more() -> None:
    agent = "Evil\r\nSubject: x\u202e" + "A" * 500
    notice = emails.code_used_notice(
        sender="a@example.test",
        to="b@example.test",
        rp_name="Example",
        when=datetime(2030, 1, 2, 3, 4, tzinfo=UTC),
        client=ClientInfo(user_agent=agent, ip="203.0.113.9"),
    )
    text = str(notice.get_content())
    assert "2030-01-02 03:04 UTC" in text
    assert "203.0.113.9" in text
    assert "\u202e" not in text
    assert "\nSubject" not in text
    assert "A" * 201 not in text.replace("\n", "").replace(" ", "")
    # The user agent is described, never quoted.
    assert "Evil" not in text
    assert "as the device reported it: an unknown browser" in " ".join(text.split())
    assert notice["Subject"] == "A recovery code was used for your Example account"


async def test_slow_hashes_wait_on_a_pool_of_their_own() -> None:
    """A flood of recovery attempts queues for scrypt without taking the event loop's
    shared executor (mail, the SQLite driver): with both scrypt threads busy, other
    blocking work still runs at once."""
    import asyncio
    import threading

    from passkey_api.recovery import codes

    release = threading.Event()
    busy = [asyncio.ensure_future(codes.off_the_loop(release.wait)) for _ in range(8)]
    try:
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), timeout=2) == "free"
        queued = asyncio.ensure_future(codes.off_the_loop(lambda: "hashed"))
        await asyncio.sleep(0.05)
        assert not queued.done()  # both threads are taken: it waits its turn
    finally:
        release.set()
    await asyncio.gather(*busy)
    assert await queued == "hashed"
