import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passkey_api.kit import base64url


@given(st.binary(max_size=300))
def test_round_trip(data: bytes) -> None:
    text = base64url.encode(data)
    assert "=" not in text
    assert base64url.decode(text) == data


@given(st.text(max_size=40))
def test_decode_accepts_only_canonical_text(text: str) -> None:
    try:
        data = base64url.decode(text)
    except ValueError:
        return
    assert base64url.encode(data) == text


@pytest.mark.parametrize(
    "bad", ["AA==", "AA=", "A", "AB", "AAB", "a+b/", "AA.B", " AA", "AA\n", "ÄÄ", "AA AA"]
)
def test_rejects_padding_other_alphabets_and_junk(bad: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        base64url.decode(bad)


def test_matches_the_standard_library() -> None:
    data = bytes(range(256))
    assert base64url.encode(data) == base64.urlsafe_b64encode(data).decode().rstrip("=")


URL_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _reference_decode(text: str) -> bytes | None:
    """What strict base64url means, spelled with the standard library: None if refused."""
    if len(text) % 4 == 1 or any(c not in URL_DIGITS for c in text):
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return data if base64.urlsafe_b64encode(data).decode().rstrip("=") == text else None


@given(st.text(alphabet=URL_DIGITS, max_size=40))
def test_decode_agrees_with_the_reference_on_alphabet_text(text: str) -> None:
    """Texts of the right alphabet, most of them ending in a digit with unused bits set."""
    _assert_judged_like_the_reference(text)


@pytest.mark.parametrize("prefix", ["", "AAAA", "QUJD"])
def test_every_last_digit_is_judged_like_the_reference(prefix: str) -> None:
    for body in ("A", "AA"):
        for digit in URL_DIGITS:
            _assert_judged_like_the_reference(prefix + body + digit)


def _assert_judged_like_the_reference(text: str) -> None:
    expected = _reference_decode(text)
    if expected is None:
        with pytest.raises(ValueError, match="base64url"):
            base64url.decode(text)
    else:
        assert base64url.decode(text) == expected
