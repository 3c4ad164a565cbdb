"""docker-compose.yml is valid (no Docker engine runs here; `config` needs none)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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
