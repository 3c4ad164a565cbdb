"""The attestation and authenticator policy settings: how the allow-list is read, and
what `check-config` says of a policy that cannot work (every registration refused)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from passkey_api.cli import main
from passkey_api.config import Settings
from passkey_api.config.check import policy_problems, refusals

AAGUID = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
KEY_IDENTIFIER = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("PASSKEY_ENV", "PASSKEY_DATABASE_URL", "PASSKEY_REDIS_URL", "PASSKEY_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PASSKEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PASSKEY_SECRET_KEY", "k" * 40)
    return tmp_path


def test_the_defaults_examine_nothing_and_are_fine(env: Path) -> None:
    settings = Settings()
    assert (settings.attestation, settings.authenticator_policy) == ("none", "any")
    assert settings.allowed_authenticators == []
    assert not settings.restricts_authenticators
    assert not settings.examines_attestation
    assert policy_problems(settings) == []


def test_the_allow_list_is_read_from_the_environment(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PASSKEY_ALLOWED_AUTHENTICATORS", f" {AAGUID.upper()} , {KEY_IDENTIFIER.upper()},"
    )
    settings = Settings()
    assert settings.allowed_authenticators == [AAGUID, KEY_IDENTIFIER]
    assert settings.restricts_authenticators
    assert settings.examines_attestation


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("yubikey", "neither an AAGUID"),
        ("0123", "neither an AAGUID"),
        ("00000000-0000-0000-0000-000000000000", "the zero AAGUID names no model"),
    ],
)
def test_an_allow_list_entry_that_names_nothing_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    monkeypatch.setenv("PASSKEY_ALLOWED_AUTHENTICATORS", value)
    with pytest.raises(ValidationError, match=why):
        Settings()


@pytest.mark.parametrize(
    "policy",
    [
        {"authenticator_policy": "attested"},
        {"authenticator_policy": "certified"},
        {"allowed_authenticators": [AAGUID]},
    ],
)
def test_a_policy_that_cannot_work_is_explained(env: Path, policy: dict[str, object]) -> None:
    found = policy_problems(Settings(**policy))  # type: ignore[arg-type]
    assert len(found) == 2
    assert "set PASSKEY_ATTESTATION=direct" in found[0]
    assert "set PASSKEY_MDS=true" in found[1]
    assert "every registration would be refused" in found[0]
    only_mds = policy_problems(Settings(attestation="direct", **policy))  # type: ignore[arg-type]
    assert len(only_mds) == 1
    assert "PASSKEY_MDS is off" in only_mds[0]
    assert policy_problems(Settings(attestation="direct", mds=True, **policy)) == []  # type: ignore[arg-type]


def test_direct_without_metadata_is_explained(env: Path) -> None:
    found = policy_problems(Settings(attestation="direct"))
    assert len(found) == 1
    assert "no chain can be verified" in found[0]


def test_check_config_names_it_and_production_refuses_to_start(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSKEY_AUTHENTICATOR_POLICY", "certified")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code != 0
    assert "PASSKEY_AUTHENTICATOR_POLICY=certified" in result.output
    assert "PASSKEY_ATTESTATION=direct" in result.output
    production = Settings(
        env="production",
        authenticator_policy="certified",
        origins=["https://example.com"],
        rp_id="example.com",
        secret_key=secrets.token_urlsafe(48),
    )
    assert any("PASSKEY_AUTHENTICATOR_POLICY" in line for line in refusals(production))


def test_refusing_compromised_models_without_metadata_is_explained(env: Path) -> None:
    assert Settings().compromised_authenticators == "allow"
    found = policy_problems(Settings(compromised_authenticators="refuse"))
    assert len(found) == 1
    assert "PASSKEY_COMPROMISED_AUTHENTICATORS=refuse" in found[0]
    assert "set PASSKEY_MDS=true" in found[0]
    assert policy_problems(Settings(compromised_authenticators="refuse", mds=True)) == []
