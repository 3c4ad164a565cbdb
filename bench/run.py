"""passkey-api load benchmark: a live server on real PostgreSQL + Redis, driven by virtual
users with a software authenticator, measured against references taken in the same run.

    .venv/bin/python -m bench.run --vus 16 --duration 10
    .venv/bin/python -m bench.run --vus 1,4,16,64 --plot bench/throughput.png
    .venv/bin/python -m bench.run --users 1000000 --vus 16

Phases per concurrency V (each D seconds after a warm-up):
  noop     GET /healthz: the framework's ceiling on this machine (reference)
  session  GET /v1/session with a signed-in cookie
  sign-up  registration options -> create -> verify, new accounts
  sign-in  authentication options -> get -> verify, per signed-up user: the ceremony the
           targets (and the references they come from) count
  sign-in+session  the same, each ceremony followed by GET /v1/session (how an SPA goes on)
Also measured: py_webauthn's verify_authentication_response in-process on one core
(reference). Server and generator are pinned to different cores when there are two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import suppress
from pathlib import Path
from typing import Any

import asyncpg

from bench.client import Connection
from bench.seed import seed
from passkey_api.storage import migrations
from tests.softauthn import SoftAuthenticator

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get(
    "PASSKEY_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PASSKEY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVER_CORE, CLIENT_CORE = 0, 1


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.ceremonies: dict[str, int] = defaultdict(int)
        self.measuring = False

    async def call(
        self, conn: Connection, name: str, method: str, path: str, body: Any = None, ok: int = 200
    ) -> Any:
        start = time.perf_counter()
        reply = await conn.request(method, path, body)
        elapsed = time.perf_counter() - start
        if self.measuring:
            self.latencies[name].append(elapsed)
            if reply.status != ok:
                self.errors[name] += 1
        if reply.status != ok:
            raise RuntimeError(f"{name}: {reply.status} {reply.body[:200]!r}")
        return reply.json() if reply.body else None


# --- virtual users ---------------------------------------------------------------------


async def sign_up(rec: Recorder, conn: Connection, origin: str, name: str) -> SoftAuthenticator:
    authenticator = SoftAuthenticator()
    options = await rec.call(
        conn, "registration/options", "POST", "/v1/registration/options", {"username": name}
    )
    credential = authenticator.create(options, origin=origin)
    await rec.call(
        conn, "registration/verify", "POST", "/v1/registration/verify", credential, ok=201
    )
    return authenticator


async def sign_in(rec: Recorder, conn: Connection, origin: str, auth: SoftAuthenticator) -> None:
    options = await rec.call(
        conn, "authentication/options", "POST", "/v1/authentication/options", {}
    )
    credential = auth.get(options, origin=origin)
    await rec.call(conn, "authentication/verify", "POST", "/v1/authentication/verify", credential)


async def run_phase(
    phase: str, vus: int, warmup: float, duration: float, port: int, origin: str, run_id: str
) -> Recorder:
    rec = Recorder()
    stop = asyncio.Event()

    async def user(index: int) -> None:
        conn = Connection("127.0.0.1", port, origin)
        name = f"{run_id}-{vus}-{phase}-{index}"
        serial = 0
        try:
            auth = None
            if phase in ("session", "sign-in", "sign-in+session"):
                auth = await sign_up(rec, conn, origin, name)
            while not stop.is_set():
                try:
                    if phase == "noop":
                        await rec.call(conn, "healthz", "GET", "/healthz")
                    elif phase == "session":
                        await rec.call(conn, "session", "GET", "/v1/session")
                    elif phase == "sign-up":
                        serial += 1
                        conn.cookie = None
                        await sign_up(rec, conn, origin, f"{name}-{serial}")
                        if rec.measuring:
                            rec.ceremonies["sign-up"] += 1
                    else:
                        assert auth is not None
                        await sign_in(rec, conn, origin, auth)
                        if rec.measuring:
                            rec.ceremonies["sign-in"] += 1
                        if phase == "sign-in+session":
                            await rec.call(conn, "session", "GET", "/v1/session")
                except RuntimeError as exc:
                    if not rec.measuring:
                        raise
                    print(f"  error: {exc}", file=sys.stderr)
        finally:
            await conn.close()

    tasks = [asyncio.create_task(user(i)) for i in range(vus)]
    await asyncio.sleep(warmup)
    rec.measuring = True
    started = time.perf_counter()
    await asyncio.sleep(duration)
    rec.measuring = False
    rec.duration = time.perf_counter() - started  # type: ignore[attr-defined]
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if task.exception():
            raise task.exception()  # type: ignore[misc]
    return rec


# --- references ---------------------------------------------------------------------------


def verify_rate(seconds: float = 2.0) -> float:
    """py_webauthn's verify_authentication_response, in-process, one core."""
    from webauthn import verify_authentication_response

    from passkey_api.kit import base64url

    origin = "http://localhost:8000"
    auth = SoftAuthenticator()
    options = {
        "rp": {"id": "localhost", "name": "b"},
        "user": {"id": "dXNlcg", "name": "u", "displayName": "u"},
        "challenge": base64url.encode(b"c" * 32),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    }
    auth.create(options, origin=origin)
    cred = next(iter(auth.credentials.values()))
    request = {
        "challenge": base64url.encode(b"c" * 32),
        "rpId": "localhost",
        "allowCredentials": [],
    }
    assertion = auth.get(request, origin=origin)
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        verify_authentication_response(
            credential=assertion,
            expected_challenge=b"c" * 32,
            expected_rp_id="localhost",
            expected_origin=origin,
            credential_public_key=cred.cose_public_key(),
            credential_current_sign_count=0,
        )
        count += 1
    return count / seconds


def verify_rate_on_server_core(pin: bool, seconds: float = 2.0) -> float:
    """The same, on the server's core, around a phase: this machine's cores change
    speed with their neighbours by ±30 % over minutes, so a ratio is only as good as a
    reference taken where and when its numerator was."""
    command = [
        sys.executable,
        "-c",
        f"from bench.run import verify_rate; print(verify_rate({seconds}))",
    ]
    if pin:
        command = ["taskset", "-c", str(SERVER_CORE), *command]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return float(done.stdout.strip().splitlines()[-1])


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, database_url: str, workers: int, pin: bool, plain: bool = False) -> None:
        self.port = free_port()
        self.origin = f"http://localhost:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PASSKEY_")}
        env |= {
            "PASSKEY_DATABASE_URL": database_url,
            "PASSKEY_REDIS_URL": REDIS_URL,
            "PASSKEY_ORIGINS": self.origin,
            "PASSKEY_SECRET_KEY": secrets.token_urlsafe(40),
            "PASSKEY_COOKIE_SECURE": "false",
            "PASSKEY_RATE_LIMITS": "false",  # one client IP plays every user here
            "PASSKEY_DATA_DIR": str(ROOT / ".passkey-api" / "bench"),
            "PASSKEY_FAST_PATHS": "false" if plain else "true",
        }
        command = [
            str(Path(sys.executable).with_name("passkey-api")),
            "serve",
            "--no-migrate",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
        if pin:
            cores = ",".join(str(c) for c in range(SERVER_CORE, SERVER_CORE + workers))
            command = ["taskset", "-c", cores, *command]
        # A file, not a pipe: a pipe nobody reads fills up and stalls the server.
        self.log_path = ROOT / ".passkey-api" / "bench" / "server.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def pids(self) -> list[int]:
        pids = [self.process.pid]
        with suppress(OSError):
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            pids += [int(p) for p in children.read_text().split()]
        return pids

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            with suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> tuple[float, float]:
        """User and system CPU seconds of the server's processes so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        user = system = 0.0
        for pid in self.pids():
            with suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                user += int(fields[11]) / ticks
                system += int(fields[12]) / ticks
        return user, system

    async def wait_ready(self) -> None:
        for _ in range(300):
            with suppress(Exception):
                conn = Connection("127.0.0.1", self.port, self.origin)
                if (await conn.request("GET", "/healthz")).status == 200:
                    await conn.close()
                    return
            if self.process.poll() is not None:
                break
            await asyncio.sleep(0.1)
        errors = self.log_path.read_text(errors="replace")
        raise SystemExit(f"server did not start: {errors[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        self.process.kill()


# --- reporting ------------------------------------------------------------------------------


def summarise(rec: Recorder) -> dict[str, Any]:
    duration: float = rec.duration  # type: ignore[attr-defined]
    endpoints = {}
    for name, values in sorted(rec.latencies.items()):
        ordered = sorted(values)
        q = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else ordered * 99
        endpoints[name] = {
            "requests_per_s": len(values) / duration,
            "p50_ms": q[49] * 1000,
            "p95_ms": q[94] * 1000,
            "p99_ms": q[98] * 1000,
            "max_ms": ordered[-1] * 1000,
            "errors": rec.errors.get(name, 0),
        }
    ceremonies = {k: v / duration for k, v in rec.ceremonies.items()}
    return {"duration_s": duration, "endpoints": endpoints, "ceremonies_per_s": ceremonies}


def print_phase(phase: str, vus: int, result: dict[str, Any]) -> None:
    print(
        f"\n{phase} (V={vus}, {result['duration_s']:.1f} s, server CPU "
        f"{result['server_cpu_percent']:.0f}% ({result['server_system_cpu_percent']:.0f}% "
        f"in the kernel), generator CPU "
        f"{result['generator_cpu_percent']:.0f}%, server RSS {result['server_rss_mb']:.0f} MB)"
    )
    print(
        f"  {'endpoint':28} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'errors':>7}"
    )
    for name, e in result["endpoints"].items():
        print(
            f"  {name:28} {e['requests_per_s']:9.0f} {e['p50_ms']:8.2f} {e['p95_ms']:8.2f} "
            f"{e['p99_ms']:8.2f} {e['max_ms']:8.2f} {e['errors']:7d}"
        )
    for name, rate in result["ceremonies_per_s"].items():
        print(f"  {name + ' ceremonies/s':28} {rate:9.0f}")


async def measure(
    server: ServerProcess, phase: str, vus: int, args: argparse.Namespace, run_id: str
) -> dict[str, Any]:
    cpu0, wall0 = server.cpu_seconds(), time.perf_counter()
    gen0 = time.process_time()
    peak = 0.0

    series: list[tuple[float, float]] = []  # (seconds since start, RSS MB) every 10 s

    async def sample() -> None:
        nonlocal peak
        started, last = time.perf_counter(), -10.0
        while True:
            rss, now = server.rss_mb(), time.perf_counter() - started
            peak = max(peak, rss)
            if now - last >= 10:
                series.append((round(now, 1), round(rss, 1)))
                last = now
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    rec = await run_phase(
        phase, vus, args.warmup, args.duration, server.port, server.origin, run_id
    )
    sampler.cancel()
    wall = time.perf_counter() - wall0
    result = summarise(rec)
    (user1, system1), (user0, system0) = server.cpu_seconds(), cpu0
    result["server_cpu_percent"] = 100 * (user1 - user0 + system1 - system0) / wall
    # The kernel's share (sockets to clients, PostgreSQL and Redis) is no Python's to cut.
    result["server_system_cpu_percent"] = 100 * (system1 - system0) / wall
    result["generator_cpu_percent"] = 100 * (time.process_time() - gen0) / wall
    result["server_rss_mb"] = max(peak, server.rss_mb())
    result["server_rss_series"] = series
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    pin = (os.cpu_count() or 1) >= 2 and args.workers == 1
    if pin:
        os.sched_setaffinity(0, {CLIENT_CORE})
    admin = await asyncpg.connect(ADMIN_URL)
    database = f"passkey_bench_{secrets.token_hex(4)}"
    await admin.execute(f'CREATE DATABASE "{database}"')
    database_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "pinned": pin},
        "workers": args.workers,
        "seed_users": args.seed_users,
        "fast_paths": not args.plain,
        "runs": [],
    }
    try:
        await asyncio.to_thread(migrations.upgrade, database_url)
        if args.seed_users:
            started = time.perf_counter()
            await seed(database_url, args.seed_users)
            print(
                f"seeded {args.seed_users} users, passkeys and sessions in "
                f"{time.perf_counter() - started:.0f} s"
            )
        report["reference_verify_per_s"] = verify_rate()
        print(
            f"reference: py_webauthn verify_authentication_response in-process: "
            f"{report['reference_verify_per_s']:.0f}/s on one core"
        )
        server = ServerProcess(database_url, args.workers, pin, plain=args.plain)
        try:
            await server.wait_ready()
            run_id = secrets.token_hex(3)
            for vus in args.vus:
                run: dict[str, Any] = {"vus": vus, "phases": {}}
                for phase in args.phases:
                    # Taken right before and right after the phase: their mean stands for
                    # the core's speed during it, their spread says how far it moved.
                    before = verify_rate_on_server_core(pin)
                    result = await measure(server, phase, vus, args, run_id)
                    after = verify_rate_on_server_core(pin)
                    result["reference_verify_per_s"] = (before + after) / 2
                    result["reference_verify_range_per_s"] = sorted((before, after))
                    run["phases"][phase] = result
                    print_phase(phase, vus, result)
                report["runs"].append(run)
            report["final_server_rss_mb"] = server.rss_mb()
        finally:
            server.stop()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    return report


def ratios(report: dict[str, Any]) -> None:
    """The targets of the performance issue, as ratios to this run's references."""
    verify = report["reference_verify_per_s"]
    for run in report["runs"]:
        phases = run["phases"]
        line = [f"V={run['vus']}:"]
        if "sign-in" in phases:
            rate = phases["sign-in"]["ceremonies_per_s"].get("sign-in", 0)
            # The mean of the references taken on the server's core around the phase.
            near = phases["sign-in"].get("reference_verify_per_s", verify)
            low, high = phases["sign-in"].get("reference_verify_range_per_s", (near, near))
            line.append(
                f"sign-in {rate:.0f}/s = {rate / near:.3f} x verify {near:.0f}/s "
                f"({rate / high:.3f}-{rate / low:.3f} x over the phase's references; "
                f"target 0.13)"
            )
            if "sign-up" in phases:
                up = phases["sign-up"]["ceremonies_per_s"].get("sign-up", 0)
                line.append(f"sign-up {up:.0f}/s = {up / max(rate, 1):.2f} x sign-in (target 0.6)")
        if "sign-in+session" in phases:
            both = phases["sign-in+session"]["ceremonies_per_s"].get("sign-in", 0)
            line.append(f"sign-in with a session check each {both:.0f}/s")
        if "session" in phases and "noop" in phases:
            s = phases["session"]["endpoints"]["session"]["requests_per_s"]
            n = phases["noop"]["endpoints"]["healthz"]["requests_per_s"]
            line.append(f"session {s:.0f}/s = {s / n:.2f} x no-op {n:.0f}/s (target 0.5)")
            ref_s = phases["session"].get("reference_verify_per_s")
            ref_n = phases["noop"].get("reference_verify_per_s")
            if ref_s and ref_n:
                # Each rate over its own phase's reference: what is left when the core
                # ran at another speed in one phase than in the other.
                line.append(f"({(s / ref_s) / (n / ref_n):.2f} x per reference)")
        worst = max(
            (e["p99_ms"] for p in phases.values() for e in p["endpoints"].values()), default=0
        )
        line.append(f"worst p99 {worst:.1f} ms (target 25 at V=16)")
        print("  ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vus", default="16", help="comma-separated concurrency levels")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--phases", default="noop,session,sign-up,sign-in,sign-in+session")
    parser.add_argument(
        "--users",
        "--seed-users",
        dest="seed_users",
        type=int,
        default=0,
        help="first bulk-load this many users, each with a passkey and a session",
    )
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--plot", help="write a PNG of throughput and p99 against V")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="serve without the fast paths (PASSKEY_FAST_PATHS=false): the plain FastAPI app",
    )
    args = parser.parse_args()
    args.vus = [int(v) for v in args.vus.split(",")]
    args.phases = args.phases.split(",")
    report = asyncio.run(main_async(args))
    print()
    ratios(report)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.json}")
    if args.plot:
        from bench.plot import plot

        plot(report, Path(args.plot))
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
