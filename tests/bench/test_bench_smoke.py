"""The benchmark still runs (a few seconds, no figures judged: those live in bench/README)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from tests.services import require_redis

ROOT = Path(__file__).resolve().parents[2]


async def test_benchmark_smoke(tmp_path: Path) -> None:
    await require_redis()
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench.run", "--vus", "2", "--duration", "1"]
    result = await asyncio.to_thread(
        subprocess.run,
        [*command, "--warmup", "0.3", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text())
    phases = report["runs"][0]["phases"]
    assert set(phases) == {"noop", "session", "sign-up", "sign-in", "sign-in+session"}
    assert phases["sign-in"]["ceremonies_per_s"]["sign-in"] > 0
    assert phases["sign-in+session"]["endpoints"]["session"]["requests_per_s"] > 0
    assert all(e["errors"] == 0 for p in phases.values() for e in p["endpoints"].values())
    assert report["reference_verify_per_s"] > 0


def test_write_benchmark_smoke() -> None:
    from bench.writes import measure

    ((two, one),) = measure(answers=200, rounds=1)
    assert two > 0
    assert one > 0
