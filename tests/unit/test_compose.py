"""docker-compose.yml is valid (no Docker engine runs here; `config` needs none)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_is_valid() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        unavailable("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(  # noqa: S603 - a fixed command on our own file
        [tool, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_services_have_healthchecks() -> None:
    import yaml  # type: ignore[import-untyped]

    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert set(services) == {"api", "postgres", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, name
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "postgres-data" in spec["volumes"]


def _resolved_api_environment(env_file: Path) -> dict[str, str]:
    """The api service's environment as docker-compose resolves it with this .env."""
    import yaml

    tool = shutil.which("docker-compose")
    if tool is None:
        unavailable("docker-compose is not installed (apt-get install docker-compose)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PASSKEY_", "POSTGRES_"))}
    result = subprocess.run(  # noqa: S603 - a fixed command on our own files
        [tool, "-f", str(ROOT / "docker-compose.yml"), "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=clean,
    )
    assert result.returncode == 0, result.stderr
    environment = yaml.safe_load(result.stdout)["services"]["api"]["environment"]
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


def _refusals(environment: dict[str, str]) -> list[str]:
    """What `serve` would refuse to start on in that environment (a bad setting included)."""
    from pydantic import ValidationError

    from passkey_api.config import Settings
    from passkey_api.config.check import refusals

    values: dict[str, Any] = {
        k.removeprefix("PASSKEY_").lower(): v for k, v in environment.items() if v
    }
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        return [str(error["msg"]) for error in exc.errors()]
    return refusals(settings)


def test_the_image_runs_in_production_mode() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    run_stage = dockerfile.rsplit("FROM ", 1)[1]
    assert "PASSKEY_ENV=production" in run_stage


def test_compose_refuses_to_start_without_real_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    for env_file in (empty, ROOT / ".env.example"):
        environment = _resolved_api_environment(env_file)
        assert environment["PASSKEY_ENV"] == "production", env_file
        found = _refusals(environment)
        assert any("PASSKEY_SECRET_KEY" in problem for problem in found), (env_file, found)


def test_compose_with_the_example_filled_in_starts(tmp_path: Path) -> None:
    filled = tmp_path / "filled.env"
    filled.write_text(
        (ROOT / ".env.example")
        .read_text()
        .replace("PASSKEY_SECRET_KEY=\n", f"PASSKEY_SECRET_KEY={secrets.token_urlsafe(48)}\n")
        .replace("POSTGRES_PASSWORD=\n", f"POSTGRES_PASSWORD={secrets.token_hex(16)}\n")
    )
    environment = _resolved_api_environment(filled)
    assert _refusals(environment) == []
    # The placeholder database password compose falls back to is refused as well.
    without_password = tmp_path / "no-password.env"
    without_password.write_text(
        filled.read_text().replace("POSTGRES_PASSWORD=", "# POSTGRES_PASSWORD=")
    )
    found = _refusals(_resolved_api_environment(without_password))
    assert [line.split(";")[0] for line in found] == [
        "PASSKEY_DATABASE_URL has a placeholder password"
    ]
