"""`check-config` on the authenticator metadata settings (PASSKEY_MDS*): what cannot
work is named with its variable and the fix; off, the defaults are fine."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from pydantic import ValidationError

from passkey_api.cli import main
from passkey_api.config import Settings
from passkey_api.config.check import mds_problems
from tests import mds_forge as forge


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("PASSKEY_ENV", "PASSKEY_DATABASE_URL", "PASSKEY_REDIS_URL", "PASSKEY_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PASSKEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PASSKEY_SECRET_KEY", "k" * 40)
    return tmp_path


def _problems(**values: object) -> list[str]:
    return mds_problems(Settings(**values), production=False)  # type: ignore[arg-type]


def test_off_by_default_and_fine(env: Path) -> None:
    assert not Settings().mds
    assert _problems() == []
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 0, result.output


def test_on_with_the_shipped_root_and_the_fido_url_is_fine(env: Path) -> None:
    settings = Settings(mds=True)
    assert settings.mds_url == "https://mds3.fidoalliance.org/"
    assert settings.mds_signer == "mds.fidoalliance.org"
    assert mds_problems(settings, production=True) == []


def test_a_root_that_cannot_work_is_explained(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = env / "missing.pem"
    assert "cannot read it" in _problems(mds=True, mds_root=missing)[0]
    garbage = env / "garbage.pem"
    garbage.write_text("not a certificate")
    assert "is not a PEM certificate" in _problems(mds=True, mds_root=garbage)[0]
    leaf = env / "leaf.pem"
    leaf.write_bytes(forge.MdsPki.build().leaf.pem)
    assert "is not a CA certificate" in _problems(mds=True, mds_root=leaf)[0]
    expired = env / "expired.pem"
    long_ago = datetime.now(UTC) - timedelta(days=30)
    expired.write_bytes(
        forge.issue(
            x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Old Root")]),
            ca=True,
            not_before=long_ago,
            not_after=long_ago,
        ).pem
    )
    assert "no BLOB verifies" in _problems(mds=True, mds_root=expired)[0]
    # And through the command, naming the variable.
    monkeypatch.setenv("PASSKEY_MDS", "true")
    monkeypatch.setenv("PASSKEY_MDS_ROOT", str(garbage))
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 1
    assert f"problem: PASSKEY_MDS_ROOT '{garbage}' is not a PEM certificate" in result.output


def test_a_file_source_must_be_readable(env: Path) -> None:
    blob = env / "blob.jwt"
    assert "PASSKEY_MDS_FILE" in _problems(mds=True, mds_file=blob)[0]
    blob.write_bytes(b"x")
    assert _problems(mds=True, mds_file=blob) == []


def test_settings_nothing_reads_are_named(env: Path) -> None:
    found = _problems(mds_file=env / "blob.jwt", mds_root=env / "root.pem")
    assert len(found) == 2
    assert all("PASSKEY_MDS is off" in line for line in found)


def test_any_signer_under_the_public_root_is_refused(env: Path) -> None:
    assert "PASSKEY_MDS_SIGNER is empty" in _problems(mds=True, mds_signer="")[0]
    root = env / "root.pem"
    root.write_bytes(forge.MdsPki.build().root.pem)
    assert _problems(mds=True, mds_signer="", mds_root=root) == []  # a private root


def test_plain_http_is_a_production_problem(env: Path) -> None:
    settings = Settings(mds=True, mds_url="http://mirror.example/mds")
    assert mds_problems(settings, production=False) == []
    assert "plain http" in mds_problems(settings, production=True)[0]
    with pytest.raises(ValidationError, match="is not an http"):
        Settings(mds_url="ftp://mirror.example/mds")


def test_a_token_in_the_url_is_not_printed(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://user:hunter2@mirror.example/mds?token=secret-token"
    found = mds_problems(Settings(mds=True, mds_url=url), production=True)
    assert "'http://mirror.example/mds' is plain http" in found[0]
    assert not any("secret-token" in line or "hunter2" in line for line in found)
    monkeypatch.setenv("PASSKEY_ENV", "production")
    monkeypatch.setenv("PASSKEY_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("PASSKEY_MDS", "true")
    monkeypatch.setenv("PASSKEY_MDS_URL", url)
    result = CliRunner().invoke(main, ["check-config"])
    assert "plain http" in result.output
    assert "secret-token" not in result.output
    assert "hunter2" not in result.output
