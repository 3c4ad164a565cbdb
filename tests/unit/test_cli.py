"""The command line: every command has --help, check-config refuses unsafe production
settings, and the database commands work on the embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from passkey_api.cli import main

COMMANDS = [
    [],
    ["serve"],
    ["migrate"],
    ["create-admin"],
    ["users"],
    ["users", "list"],
    ["sessions"],
    ["sessions", "prune"],
    ["passkeys"],
    ["passkeys", "audit"],
    ["mds"],
    ["mds", "refresh"],
    ["openapi"],
    ["check-config"],
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("PASSKEY_ENV", "PASSKEY_DATABASE_URL", "PASSKEY_REDIS_URL", "PASSKEY_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PASSKEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PASSKEY_SECRET_KEY", "k" * 40)
    return tmp_path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "passkey-api")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_check_config_accepts_development_defaults(env: Path) -> None:
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 0, result.output
    assert "configuration is fine" in result.output


def test_check_config_refuses_an_unsafe_production_config(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSKEY_RP_ID", "example.com")
    monkeypatch.setenv("PASSKEY_ORIGINS", "http://app.example.com,https://example.com")
    monkeypatch.setenv("PASSKEY_COOKIE_SECURE", "false")
    monkeypatch.setenv("PASSKEY_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("PASSKEY_SMTP_FROM", "no-reply@example.com")
    monkeypatch.setenv("PASSKEY_RECOVERY_URL", "https://example.com/recover")
    monkeypatch.setenv("PASSKEY_SMTP_STARTTLS", "false")
    result = CliRunner().invoke(main, ["check-config", "--production"])
    assert result.exit_code == 1
    assert "COOKIE_SECURE" in result.output
    assert "PASSKEY_SMTP_STARTTLS" in result.output
    assert "'http://app.example.com' is plain http" in result.output
    assert "PASSKEY_DATABASE_URL" in result.output
    assert "PASSKEY_REDIS_URL" in result.output


def test_check_config_lints_related_origin_labels(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sites = ",".join(f"https://shop{n}.com" for n in range(6))
    monkeypatch.setenv("PASSKEY_RELATED_ORIGINS", sites)
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 1
    assert "browsers honour only the first 5" in result.output


def test_origin_outside_the_rp_id_is_refused(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSKEY_RP_ID", "example.com")
    monkeypatch.setenv("PASSKEY_ORIGINS", "https://example.org")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 2
    assert "not within PASSKEY_RP_ID" in result.output


def test_production_without_a_secret_is_refused(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSKEY_ENV", "production")
    monkeypatch.delenv("PASSKEY_SECRET_KEY")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 2
    assert "PASSKEY_SECRET_KEY" in result.output


def test_database_commands_on_the_embedded_store(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    listed = runner.invoke(main, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "0 of 0 users" in listed.output
    pruned = runner.invoke(main, ["sessions", "prune"])
    assert pruned.exit_code == 0, pruned.output
    assert "pruned 0 expired sessions" in pruned.output
    missing = runner.invoke(main, ["create-admin", "nobody"])
    assert missing.exit_code == 1


def test_workers_need_redis(env: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "PASSKEY_REDIS_URL" in result.output


def test_check_config_second_review_cases(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("PASSKEY_RATE_LIMIT_IP", "60/minutess")
    assert runner.invoke(main, ["check-config"]).exit_code == 2
    monkeypatch.delenv("PASSKEY_RATE_LIMIT_IP")
    monkeypatch.setenv("PASSKEY_ANDROID_APPS", "[not json")
    result = runner.invoke(main, ["check-config"])
    assert result.exit_code == 2
    assert "bad setting" in result.output
    monkeypatch.delenv("PASSKEY_ANDROID_APPS")
    monkeypatch.setenv("PASSKEY_SECRET_KEY", "changeme")
    result = runner.invoke(main, ["check-config", "--production"])
    assert "placeholder" in result.output
    monkeypatch.setenv("PASSKEY_RP_ID", "10.0.0.1")
    monkeypatch.setenv("PASSKEY_ORIGINS", "https://10.0.0.1")
    assert "IP address" in runner.invoke(main, ["check-config"]).output


def test_origins_are_kept_as_browsers_send_them() -> None:
    from passkey_api.config import Settings

    settings = Settings(
        rp_id="example.com",
        origins=["https://Example.COM:443", "http://LocalHost.example.com:8080"],
        secret_key="k" * 40,
    )
    assert settings.origins == ["https://example.com", "http://localhost.example.com:8080"]


def test_memory_counter_evicts_past_windows_not_everything() -> None:
    import time

    from passkey_api.storage.ratelimit import MemoryCounter

    counter = MemoryCounter(max_keys=3)
    now = time.time()
    counter.hit("live", now + 60)
    counter.hit("live", now + 60)
    counter.hit("old-1", now - 1)
    counter.hit("old-2", now - 1)
    counter.hit("new", now + 60)  # full: the past windows go, the live count stays
    assert counter.hit("live", now + 60) == 3


def test_a_mistyped_variable_is_named_with_the_real_one(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PASSKEY_ORIGIN", "https://app.example.com")
    monkeypatch.setenv("passkey_sesion_lifetime", "3600")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 1
    assert "PASSKEY_ORIGIN is not a setting; did you mean PASSKEY_ORIGINS?" in result.output
    assert "did you mean PASSKEY_SESSION_LIFETIME?" in result.output
    # Every other command starts, with a warning per such variable.
    from passkey_api.cli import _settings

    _settings()
    assert "warning: PASSKEY_ORIGIN is not a setting; did you mean PASSKEY_ORIGINS?" in (
        capsys.readouterr().err
    )


def test_variables_read_elsewhere_are_not_called_mistakes(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSKEY_READ_TIMEOUT", "10")  # serve's own option
    monkeypatch.setenv("PASSKEY_API_URL", "http://localhost:8000")  # the SvelteKit example's
    monkeypatch.setenv("PASSKEY_TEST_DATABASE_URL", "postgresql://x/y")  # the test suite's
    assert CliRunner().invoke(main, ["check-config"]).exit_code == 0


def test_durations_take_plain_seconds(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from passkey_api.config import Settings

    monkeypatch.setenv("PASSKEY_SESSION_CACHE_TTL", "0")  # the README's way to turn it off
    monkeypatch.setenv("PASSKEY_SESSION_LIFETIME", "3600")
    monkeypatch.setenv("PASSKEY_REAUTH_WINDOW", "PT5M")
    settings = Settings()
    assert settings.session_cache_ttl == timedelta(0)
    assert settings.session_lifetime == timedelta(hours=1)
    assert settings.reauth_window == timedelta(minutes=5)
    monkeypatch.setenv("PASSKEY_SESSION_LIFETIME", "soon")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 2
    assert "PASSKEY_SESSION_LIFETIME: 'soon' is not a duration; write seconds" in result.output


def test_the_example_files_placeholder_secret_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSKEY_SECRET_KEY", "change-me-to-at-least-32-random-characters")
    result = CliRunner().invoke(main, ["check-config", "--production"])
    assert result.exit_code == 1
    assert "PASSKEY_SECRET_KEY is a placeholder or shorter than 32 characters; make one" in (
        result.output
    )
    monkeypatch.setenv("PASSKEY_ENV", "production")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 2
    assert result.output.startswith("passkey-api: PASSKEY_SECRET_KEY is a placeholder")


def test_the_banner_gives_the_address_passkeys_work_at(env: Path) -> None:
    from passkey_api.cli import _banner
    from passkey_api.config import Settings

    settings = Settings(origins=["http://localhost:8000"])
    lines = _banner(settings, "127.0.0.1", 8000, "none pending (at 0009)")
    assert lines[0] == "the account page is at http://localhost:8000/"
    assert lines[1].startswith("  as localhost, not 127.0.0.1: the RP ID is localhost")
    assert "backend: embedded (SQLite in " in lines[2]
    assert lines[3] == "migrations: none pending (at 0009)"
    assert lines[4].startswith("listening on 127.0.0.1:8000")
    elsewhere = _banner(settings, "192.0.2.5", 8000, "")
    assert "(to serve it there: PASSKEY_RP_ID, PASSKEY_ORIGINS)" in elsewhere[1]
    shared = Settings(
        rp_id="example.com",
        origins=["https://example.com"],
        database_url="postgresql://db/x",
        redis_url="redis://cache",
    )
    lines = _banner(shared, "0.0.0.0", 8000, "")  # noqa: S104
    assert lines[0] == "the account page is at https://example.com/"
    assert lines[1] == "backend: PostgreSQL + Redis"


def test_migrations_say_what_they_did(env: Path) -> None:
    from passkey_api.cli import _migrate
    from passkey_api.config import Settings
    from passkey_api.storage import migrations

    settings = Settings()
    head = migrations.head_revision()
    assert (
        _migrate(settings)
        == f"{len(migrations.pending(None))} applied to an empty database, now at {head}"
    )
    assert _migrate(settings) == f"none pending (at {head})"
