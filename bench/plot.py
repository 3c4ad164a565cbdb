"""Throughput and p99 latency against concurrency, from a bench.run report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    vus = [run["vus"] for run in runs]
    series: dict[str, tuple[str, Callable[[dict[str, Any]], float]]] = {
        "sign-in ceremonies": ("sign-in", lambda p: p["ceremonies_per_s"].get("sign-in", 0)),
        "sign-up ceremonies": ("sign-up", lambda p: p["ceremonies_per_s"].get("sign-up", 0)),
        "GET /v1/session": ("session", lambda p: p["endpoints"]["session"]["requests_per_s"]),
        "GET /healthz (no-op)": ("noop", lambda p: p["endpoints"]["healthz"]["requests_per_s"]),
    }
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, (phase, value) in series.items():
        points = [
            (run["vus"], value(run["phases"][phase])) for run in runs if phase in run["phases"]
        ]
        if points:
            left.plot(*zip(*points, strict=True), marker="o", label=label)
            worst = [
                (run["vus"], max(e["p99_ms"] for e in run["phases"][phase]["endpoints"].values()))
                for run in runs
                if phase in run["phases"]
            ]
            right.plot(*zip(*worst, strict=True), marker="o", label=label)
    for axis, title, unit in ((left, "Throughput", "per second"), (right, "p99 latency", "ms")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(vus, [str(v) for v in vus])
        axis.set_xlabel("virtual users (V)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(alpha=0.3)
    right.axhline(25, color="grey", linestyle="--", linewidth=1, label="25 ms target")
    right.set_yscale("log")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    figure.suptitle(
        f"passkey-api, {report['workers']} worker(s), "
        f"{report['seed_users']:,} seeded users, PostgreSQL + Redis"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
