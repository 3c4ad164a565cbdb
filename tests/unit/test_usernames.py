import pytest

from passkey_api.errors import InvalidUsername
from passkey_api.users import names


def test_case_and_compatibility_forms_share_a_key() -> None:
    keys = {names.normalize(v)[1] for v in ("Alice", "ALICE", "alice", "\uff21lice")}
    assert keys == {"alice"}


def test_display_form_keeps_the_case() -> None:
    assert names.normalize("  Alice ")[0] == "Alice"


def test_german_sharp_s_folds() -> None:
    assert names.normalize("STRASSE")[1] == names.normalize("straße")[1]


@pytest.mark.parametrize("bad", ["", "   ", "a" * 65, "bob\u200b", "tab\tname", "nul\x00"])
def test_refused(bad: str) -> None:
    with pytest.raises(InvalidUsername):
        names.normalize(bad)
