"""Names shown to people (text.NameText, DisplayName, clean_name): RFC 8266 Nicknames."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from passkey_api.kit.text import DISPLAY_NAME_BYTES, DisplayName, clean_name

DISPLAY = TypeAdapter(DisplayName)

# Unicode's Bidi_Control property (PropList.txt): all of it must stay out of names.
BIDI_CONTROLS = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
# Default_Ignorable_Code_Point, its commonest members (DerivedCoreProperties.txt).
IGNORABLES = {0x00AD, 0x034F, 0x115F, 0x1160, 0x180E, 0x200B, 0x2060, 0x3164, 0xFEFF}


@pytest.mark.parametrize("code_point", sorted(BIDI_CONTROLS | IGNORABLES))
def test_each_refused_code_point(code_point: int) -> None:
    with pytest.raises(ValidationError):
        DISPLAY.validate_python(f"name{chr(code_point)}x")
    assert clean_name(f"name{chr(code_point)}x", DISPLAY_NAME_BYTES) == "namex"


names = st.text(
    st.characters(codec="utf-8")
    | st.sampled_from([chr(c) for c in BIDI_CONTROLS | IGNORABLES] + ["\u200c", "\u200d", " "]),
    max_size=80,
)


@given(names)
def test_a_cleaned_name_is_one_the_api_accepts(name: str) -> None:
    cleaned = clean_name(name, DISPLAY_NAME_BYTES)
    if cleaned is None:
        return
    assert DISPLAY.validate_python(cleaned) == cleaned
    assert cleaned
    assert cleaned == cleaned.strip()
    assert len(cleaned.encode()) <= DISPLAY_NAME_BYTES
    assert not {ord(ch) for ch in cleaned} & (BIDI_CONTROLS | IGNORABLES)
    assert all(unicodedata.category(ch) not in ("Cc", "Cs") for ch in cleaned)


@given(names)
def test_an_accepted_name_is_its_own_cleaning(name: str) -> None:
    try:
        accepted = DISPLAY.validate_python(name)
    except ValidationError:
        return
    if accepted:
        assert clean_name(accepted, DISPLAY_NAME_BYTES) == accepted
