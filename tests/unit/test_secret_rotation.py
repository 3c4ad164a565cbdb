"""The secret key with the keys it replaced (PASSKEY_SECRET_KEY_PREVIOUS): read from the
environment, new values signed with the current key, values of either accepted, and a
previous key held to the rules of a key in production. The whole rotation, on both
backends: tests/api/test_key_rotation.py."""

from __future__ import annotations

import secrets

import pytest
from click.testing import CliRunner

from passkey_api.cli import main
from passkey_api.config import SecretKey, Settings
from passkey_api.kit import keys, tokens

NEW = secrets.token_urlsafe(48)
OLD = secrets.token_urlsafe(48)
OLDER = secrets.token_urlsafe(48)


def test_previous_keys_come_as_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSKEY_SECRET_KEY", NEW)
    for given in (f"{OLD},{OLDER}", f" {OLD} , {OLDER} ,", f'["{OLD}", "{OLDER}"]'):
        monkeypatch.setenv("PASSKEY_SECRET_KEY_PREVIOUS", given)
        key = Settings().secret_key_bytes()
        assert key == NEW.encode()
        assert key.accepted == (NEW.encode(), OLD.encode(), OLDER.encode())
    monkeypatch.delenv("PASSKEY_SECRET_KEY_PREVIOUS")
    assert Settings().secret_key_bytes().accepted == (NEW.encode(),)


def test_the_key_is_its_current_bytes_and_hides_them() -> None:
    key = SecretKey(NEW.encode(), [OLD.encode(), NEW.encode(), b"", OLD.encode()])
    assert bytes(key) == NEW.encode()
    assert key.previous == (OLD.encode(),)  # neither the current key again, nor twice
    assert NEW not in repr(key)
    assert OLD not in repr(key)
    assert keys.accepted(key) == (NEW.encode(), OLD.encode())
    assert keys.accepted(b"plain") == (b"plain",)


def test_tokens_are_signed_with_the_new_key_and_accepted_under_either() -> None:
    rotated = SecretKey(NEW.encode(), [OLD.encode()])
    token = tokens.new_token()
    old_value = tokens.sign(OLD.encode(), token)
    assert tokens.unsign(rotated, old_value) == token
    assert tokens.unsign(SecretKey(NEW.encode()), old_value) is None
    new_value = tokens.sign(rotated, token)
    assert new_value == tokens.sign(NEW.encode(), token)
    assert tokens.unsign(NEW.encode(), new_value) == token
    assert tokens.unsign(OLD.encode(), new_value) is None
    # verify() tells which: a value under a previous key is to be signed again.
    older = SecretKey(NEW.encode(), [OLD.encode(), OLDER.encode()])
    assert tokens.verify(older, new_value) == (token, False)
    assert tokens.verify(older, old_value) == (token, True)
    assert tokens.verify(older, tokens.sign(OLDER.encode(), token)) == (token, True)
    assert tokens.verify(SecretKey(NEW.encode()), old_value) == (None, False)
    assert tokens.verify(older, "é." + token) == (None, False)


@pytest.mark.parametrize("previous", ["change-me-to-at-least-32-random-characters", "short"])
def test_check_config_holds_a_previous_key_to_the_rules(
    monkeypatch: pytest.MonkeyPatch, previous: str
) -> None:
    monkeypatch.delenv("PASSKEY_ENV", raising=False)
    monkeypatch.setenv("PASSKEY_SECRET_KEY", NEW)
    monkeypatch.setenv("PASSKEY_SECRET_KEY_PREVIOUS", f"{OLD},{previous}")
    result = CliRunner().invoke(main, ["check-config", "--production"])
    assert result.exit_code == 1
    problem = [line for line in result.output.splitlines() if "SECRET_KEY_PREVIOUS" in line]
    assert problem == [
        "problem: PASSKEY_SECRET_KEY_PREVIOUS holds a placeholder or a key shorter than 32 "
        "characters, which anyone could sign with; remove it (what it signed ends)"
    ]
    # Outside production, as any key there, it is not judged.
    assert "SECRET_KEY_PREVIOUS" not in CliRunner().invoke(main, ["check-config"]).output
