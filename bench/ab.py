"""Two commits side by side: `bench.run` on the commit before a change and on the commit
after it, alternating on the same machine in one sitting, so that the host's drift from
hour to hour (±30 % here) falls on both alike. Remembered figures are never compared.

    .venv/bin/python -m bench.ab a0bff48                 # that commit against the work tree
    .venv/bin/python -m bench.ab a0bff48 HEAD --rounds 4 --plain

Each commit runs from a detached worktree of its own with this checkout's .venv (so the
dependencies are the same; a commit whose uv.lock differs needs its own .venv), and its
own `bench/run.py`, so an older commit is measured as it measured itself. Rounds
alternate the order (A B, then B A) so neither side always runs on a warmer machine.
Per phase it prints every run's rate, each side's median, and the ratio of the medians
(after / before); `--plain` adds the later commit without the fast paths.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _rates(results: Any) -> dict[str, float]:
    """Session checks/s and ceremonies/s of one bench.run --json file."""
    [run] = results["runs"]
    phases = run["phases"]
    rates: dict[str, float] = {}
    for phase, data in phases.items():
        if phase == "session":
            rates[phase] = data["endpoints"]["session"]["requests_per_s"]
        elif data["ceremonies_per_s"]:
            rates[phase] = data["ceremonies_per_s"][phase]
    return rates


def _measure(
    name: str, tree: Path, out: Path, args: argparse.Namespace, plain: bool
) -> dict[str, float]:
    command = [
        sys.executable, "-m", "bench.run",
        "--vus", str(args.vus), "--duration", str(args.duration), "--warmup", str(args.warmup),
        "--phases", args.phases, "--json", str(out),
    ] + (["--plain"] if plain else [])  # fmt: skip
    env = os.environ | {"PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
    log = out.with_suffix(".log")
    with log.open("wb") as sink:
        done = subprocess.run(command, cwd=tree, env=env, stdout=sink, stderr=sink, check=False)
    if done.returncode != 0:
        sys.exit(f"{name}: bench.run failed ({done.returncode}); see {log}")
    return _rates(json.loads(out.read_text()))


def _worktree(rev: str, where: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(where), rev], check=True
    )
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="the commit before the change")
    parser.add_argument("after", nargs="?", help="the commit after it (default: the work tree)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--plain", action="store_true", help="also `after` without fast paths")
    parser.add_argument("--phases", default="session,sign-up,sign-in")
    parser.add_argument("--vus", type=int, default=16)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    made = [_worktree(args.before, scratch / "before")]
    after = ROOT if args.after is None else _worktree(args.after, scratch / "after")
    if args.after is not None:
        made.append(after)
    sides = [("before", made[0], False), ("after", after, False)]
    if args.plain:
        sides.append(("after-plain", after, True))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in sides}
    try:
        for round_ in range(1, args.rounds + 1):
            for name, tree, plain in sides if round_ % 2 else sides[::-1]:
                rates = _measure(name, tree, scratch / f"{name}-{round_}.json", args, plain)
                runs[name].append(rates)
                shown = "  ".join(f"{phase} {rate:,.0f}/s" for phase, rate in rates.items())
                print(f"round {round_}  {name:<12} {shown}", flush=True)
    finally:
        for tree in made:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )
    print()
    for phase in runs["before"][0]:
        medians = {name: statistics.median(r[phase] for r in rs) for name, rs in runs.items()}
        line = "  ".join(f"{name} {value:,.0f}/s" for name, value in medians.items())
        ratios = "  ".join(
            f"{name}/before {medians[name] / medians['before']:.3f}"
            for name in medians
            if name != "before"
        )
        print(f"{phase:<8} medians: {line}   {ratios}")
    print(f"\nruns and logs: {scratch}")


if __name__ == "__main__":
    main()
