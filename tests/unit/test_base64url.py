import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passkey_api import base64url


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
