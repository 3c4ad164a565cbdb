"""`serve` in production refuses to start on whatever `check-config --production` refuses
(the shipped .env.example, placeholder secrets, a proxy list that trusts everyone), and
in any mode on a shared database without a shared secret key."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from passkey_api.cli import main

ROOT = Path(__file__).resolve().parents[2]


class Started:
    """What serve did: migrations applied, uvicorn run (stubbed: no database is read or
    written, nothing listens)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.migrated: list[str] = []
        self.served = False
        monkeypatch.setattr("passkey_api.storage.migrations.upgrade", self.migrated.append)
        monkeypatch.setattr("passkey_api.storage.migrations.current_revision", _empty)
        monkeypatch.setattr("uvicorn.run", self._run)

    def _run(self, *args: Any, **kwargs: Any) -> None:
        self.served = True


async def _empty(engine: Any) -> None:
    """The revision of a database without migrations."""


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Started:
    for name in [
        "PASSKEY_ENV",
        "PASSKEY_DATABASE_URL",
        "PASSKEY_REDIS_URL",
        "PASSKEY_ORIGINS",
        "PASSKEY_RP_ID",
        "PASSKEY_SECRET_KEY",
        "PASSKEY_COOKIE_SECURE",
        "PASSKEY_TRUSTED_PROXIES",
    ]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PASSKEY_DATA_DIR", str(tmp_path))
    return Started(monkeypatch)


def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """A production configuration with nothing to refuse."""
    monkeypatch.setenv("PASSKEY_ENV", "production")
    monkeypatch.setenv("PASSKEY_RP_ID", "example.com")
    monkeypatch.setenv("PASSKEY_ORIGINS", "https://example.com")
    monkeypatch.setenv("PASSKEY_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv(
        "PASSKEY_DATABASE_URL", f"postgresql://passkey:{secrets.token_hex(16)}@db/passkey"
    )
    monkeypatch.setenv("PASSKEY_REDIS_URL", "redis://cache:6379/0")


def problems(result: Result) -> list[str]:
    return sorted(line for line in result.output.splitlines() if "problem" in line)


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_serve_refuses_the_env_example_in_production(
    started: Started, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = env_example()
    assert example["PASSKEY_ENV"] == "production"
    for name, value in example.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code != 0, result.output
    assert "PASSKEY_SECRET_KEY" in result.output
    assert not started.served
    assert not started.migrated  # refused before touching any database
    # Even with a real secret in it, alone it would run on SQLite with an in-process store.
    monkeypatch.setenv("PASSKEY_SECRET_KEY", secrets.token_urlsafe(48))
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1, result.output
    assert "PASSKEY_DATABASE_URL" in result.output
    assert "PASSKEY_REDIS_URL" in result.output
    assert (started.served, started.migrated) == (False, [])


def test_a_clean_production_configuration_serves(
    started: Started, monkeypatch: pytest.MonkeyPatch
) -> None:
    production(monkeypatch)
    assert CliRunner().invoke(main, ["check-config"]).exit_code == 0
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 0, result.output
    assert started.served
    assert len(started.migrated) == 1


UNSAFE = {
    "the .env.example secret": {"PASSKEY_SECRET_KEY": "change-me-to-at-least-32-random-characters"},
    "the old compose default secret": {
        "PASSKEY_SECRET_KEY": "dev-only-secret-change-me-0123456789abcdef"
    },
    "a secret of few characters": {"PASSKEY_SECRET_KEY": "ab" * 24},
    "the .env.example secret as the previous key": {
        "PASSKEY_SECRET_KEY_PREVIOUS": "change-me-to-at-least-32-random-characters"
    },
    "a short previous key among others": {
        "PASSKEY_SECRET_KEY_PREVIOUS": f"{secrets.token_urlsafe(48)},too-short-a-key"
    },
    "a plain-http cookie": {"PASSKEY_COOKIE_SECURE": "false"},
    "every address a proxy": {"PASSKEY_TRUSTED_PROXIES": "10.0.0.0/8,0.0.0.0/0"},
    "every IPv6 address a proxy": {"PASSKEY_TRUSTED_PROXIES": "::/0"},
    "every IPv4-mapped address a proxy": {"PASSKEY_TRUSTED_PROXIES": "::ffff:0:0/96"},
    "half the internet a proxy": {"PASSKEY_TRUSTED_PROXIES": "128.0.0.0/1"},
    # IPv6 networks that hold ::ffff:0:0/96, and so every IPv4 client of a dual-stack socket.
    "an IPv6 /80 holding all of IPv4": {"PASSKEY_TRUSTED_PROXIES": "::/80"},
    "an IPv6 /95 holding all of IPv4": {"PASSKEY_TRUSTED_PROXIES": "::fffe:0:0/95"},
    "an IPv6 /16 holding all of IPv4": {"PASSKEY_TRUSTED_PROXIES": "::/16"},
    "a public IPv6 /16": {"PASSKEY_TRUSTED_PROXIES": "2001::/16"},
    "a public IPv6 /28": {"PASSKEY_TRUSTED_PROXIES": "2a00::/28"},
    "a public IPv4 /11": {"PASSKEY_TRUSTED_PROXIES": "104.0.0.0/11"},
    "a public IPv4 /11, mapped": {"PASSKEY_TRUSTED_PROXIES": "::ffff:104.0.0.0/107"},
    "the compose default database password": {
        "PASSKEY_DATABASE_URL": "postgresql://postgres:postgres@postgres:5432/passkey"
    },
    "the .env.example database password": {
        "PASSKEY_DATABASE_URL": "postgresql://postgres:change-me-too@postgres:5432/passkey"
    },
    "no Redis": {"PASSKEY_REDIS_URL": ""},
}


@pytest.mark.parametrize("case", UNSAFE)
def test_serve_refuses_what_check_config_production_refuses(
    started: Started, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    production(monkeypatch)
    for name, value in UNSAFE[case].items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name)
    checked = CliRunner().invoke(main, ["check-config", "--production"])
    assert checked.exit_code != 0, checked.output
    served = CliRunner().invoke(main, ["serve"])
    assert served.exit_code == checked.exit_code, served.output
    assert problems(served) == problems(checked)
    assert (started.served, started.migrated) == (False, [])


@pytest.mark.parametrize(
    "proxies",
    [
        "10.0.0.0/8",
        "172.16.0.0/12,192.168.0.0/16",
        "fd00::/8",
        # The widest ranges a CDN publishes (Cloudflare's), IPv4-mapped private networks.
        "104.16.0.0/13,2a06:98c0::/29",
        "::ffff:10.0.0.0/104,::ffff:203.0.113.0/120",
    ],
)
def test_narrow_proxy_networks_are_fine(
    started: Started, monkeypatch: pytest.MonkeyPatch, proxies: str
) -> None:
    production(monkeypatch)
    monkeypatch.setenv("PASSKEY_TRUSTED_PROXIES", proxies)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 0, result.output
    assert started.served


def test_a_shared_database_without_a_shared_secret_is_refused(
    started: Started, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Development mode, but replicas on one database would each make their own key.
    monkeypatch.setenv("PASSKEY_DATABASE_URL", "postgresql://passkey@db/passkey")
    checked = CliRunner().invoke(main, ["check-config"])
    assert checked.exit_code == 1
    assert "PASSKEY_SECRET_KEY" in checked.output
    served = CliRunner().invoke(main, ["serve"])
    assert served.exit_code == 1, served.output
    assert problems(served) == problems(checked)
    assert (started.served, started.migrated) == (False, [])


def test_the_embedded_backend_still_serves_without_a_secret(started: Started) -> None:
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 0, result.output
    assert started.served


def test_the_asgi_entry_point_refuses_as_serve_does(tmp_path: Path) -> None:
    """uvicorn or gunicorn pointed at passkey_api.asgi:app skip `serve`, not its checks."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSKEY_")}
    env |= {"PASSKEY_DATA_DIR": str(tmp_path), "PASSKEY_DATABASE_URL": "postgresql://db/p"}
    result = subprocess.run(
        [sys.executable, "-c", "import passkey_api.asgi"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert result.returncode != 0
    assert "refusing to serve: PASSKEY_SECRET_KEY is not set" in result.stderr
