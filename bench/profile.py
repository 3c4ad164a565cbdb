"""Server-side cost per request, in-process and without sockets: the app is called as an
ASGI callable, so what is timed (and profiled) is passkey-api alone, not uvicorn or a
client. For finding where the time goes; the load benchmark (bench.run) gives the figures.

    .venv/bin/python -m bench.profile                       # µs per request, per endpoint
    .venv/bin/python -m bench.profile --profile session     # + cProfile of one endpoint
    .venv/bin/python -m bench.profile --embedded            # SQLite + in-process store
    .venv/bin/python -m bench.profile --instructions -n 300 # instructions per request
    .venv/bin/python -m bench.profile --plain               # without the fast paths

CPU time here moves by ±30 % with the machine's neighbours, so it prints the least of
several rounds; `--instructions` counts under callgrind instead (about 100 s for all the
steps), which is what to compare two versions of the code with.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from bench.instructions import UNDER_CALLGRIND, Counter, rerun_under_callgrind
from bench.run import ADMIN_URL, REDIS_URL
from passkey_api.app import create_app
from passkey_api.config import Settings
from passkey_api.storage import migrations
from tests.softauthn import SoftAuthenticator

ORIGIN = "http://localhost:8000"
STEPS = ("healthz", "session", "options", "sign-in", "sign-up")
Message = dict[str, Any]


class Caller:
    """Calls the ASGI app directly with a minimal HTTP scope; keeps the session cookie."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.cookie: bytes | None = None

    async def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = b"" if body is None else json.dumps(body).encode()
        headers = [
            (b"host", b"localhost:8000"),
            (b"origin", ORIGIN.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        if body is not None:
            headers.append((b"content-type", b"application/json"))
        if self.cookie:
            headers.append((b"cookie", self.cookie))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        status = 0
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"set-cookie":
                        pair = value.split(b";", 1)[0]
                        if pair.split(b"=", 1)[1]:
                            self.cookie = pair
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        data = b"".join(chunks)
        return status, json.loads(data) if data else None


async def lifespan(app: Any, stack: AsyncExitStack) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()
    queue: asyncio.Queue[Message] = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()
        elif message["type"].startswith("lifespan.shutdown"):
            stopped.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    task = asyncio.create_task(app(scope, queue.get, send))
    await started.wait()

    async def shutdown() -> None:
        await queue.put({"type": "lifespan.shutdown"})
        await stopped.wait()
        await task

    stack.push_async_callback(shutdown)


async def main_async(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        if args.embedded:
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            url, redis_url = f"sqlite+aiosqlite:///{Path(folder) / 'p.db'}", None
        else:
            admin = await asyncpg.connect(ADMIN_URL)
            name = f"passkey_profile_{secrets.token_hex(4)}"
            await admin.execute(f'CREATE DATABASE "{name}"')

            async def drop() -> None:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()

            stack.push_async_callback(drop)
            url, redis_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name, REDIS_URL
        await asyncio.to_thread(migrations.upgrade, url)
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            origins=[ORIGIN],
            secret_key=secrets.token_urlsafe(40),
            cookie_secure=False,
            rate_limits=args.rate_limits,
            log_level="warning",
            data_dir=Path(tempfile.gettempdir()) / "passkey-profile",
            fast_paths=not args.plain,
        )
        app = create_app(settings)
        await lifespan(app, stack)
        call = Caller(app)
        counter = Counter()
        authenticator = SoftAuthenticator()

        async def healthz() -> None:
            assert (await call("GET", "/healthz"))[0] == 200

        async def session() -> None:
            assert (await call("GET", "/v1/session"))[0] == 200

        async def sign_up() -> None:
            status, options = await call(
                "POST", "/v1/registration/options", {"username": "u" + secrets.token_hex(6)}
            )
            assert status == 200, options
            credential = SoftAuthenticator().create(options, origin=ORIGIN)
            status, body = await call("POST", "/v1/registration/verify", credential)
            assert status == 201, body

        async def sign_in_options() -> None:
            status, body = await call("POST", "/v1/authentication/options", {})
            assert status == 200, body

        async def sign_in() -> None:
            status, options = await call("POST", "/v1/authentication/options", {})
            assert status == 200, options
            credential = authenticator.get(options, origin=ORIGIN)
            status, body = await call("POST", "/v1/authentication/verify", credential)
            assert status == 200, body

        status, options = await call("POST", "/v1/registration/options", {"username": "bench"})
        status, _ = await call(
            "POST", "/v1/registration/verify", authenticator.create(options, origin=ORIGIN)
        )
        assert status == 201
        steps: dict[str, Callable[[], Awaitable[None]]] = {
            "healthz": healthz,
            "session": session,
            "options": sign_in_options,
            "sign-in": sign_in,
            "sign-up": sign_up,
        }
        for name, step in steps.items():
            if args.only and name not in args.only.split(","):
                continue
            for _ in range(args.n // 10):
                await step()
            if os.environ.get(UNDER_CALLGRIND):
                counter.start()
                for _ in range(args.n):
                    await step()
                counter.stop()
                continue
            # This machine shares its cores: the least CPU of several rounds is the figure
            # its neighbours disturbed least; the median says how much they moved it.
            per_round: list[float] = []
            for _ in range(args.rounds):
                cpu = time.process_time()
                for _ in range(args.n):
                    await step()
                per_round.append((time.process_time() - cpu) / args.n)
            best, median = min(per_round), statistics.median(per_round)
            print(
                f"{name:10s} {best * 1e6:8.0f} µs CPU, least of {args.rounds} rounds"
                f" (median {median * 1e6:.0f})  {1 / best:6.0f}/s per core"
            )
            if name == args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(args.n):
                    await step()
                profiler.disable()
                stats = pstats.Stats(profiler).sort_stats(args.sort)
                stats.print_stats(args.lines)
                print_by_package(stats, args.n)


def print_by_package(stats: pstats.Stats, n: int) -> None:
    """Own time (not cumulative) per package, per request: where the time goes."""
    totals: dict[str, float] = {}
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in filename:
            package = filename.split("site-packages/")[1].split("/")[0]
        elif "/passkey_api/" in filename:
            package = "passkey_api/" + filename.split("/passkey_api/")[1]
        elif filename.startswith("~"):
            package = f"builtin {function.split(' of ')[-1][:40]}"
        else:
            package = "/".join(filename.split("/")[-2:])
        totals[package] = totals.get(package, 0.0) + row[2]
    print("own time per request (µs, profiled):")
    for package, seconds in sorted(totals.items(), key=lambda item: -item[1])[:30]:
        print(f"  {seconds / n * 1e6:8.1f}  {package}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="requests per endpoint and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under callgrind instead (slow, but exact)",
    )
    parser.add_argument("--profile", choices=STEPS)
    parser.add_argument("--only", help="comma-separated steps to run (default: all)")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--lines", type=int, default=60)
    parser.add_argument("--embedded", action="store_true")
    parser.add_argument("--rate-limits", action="store_true")
    parser.add_argument(
        "--plain", action="store_true", help="the app without the fast paths (PASSKEY_FAST_PATHS)"
    )
    args = parser.parse_args()
    if args.instructions and not os.environ.get(UNDER_CALLGRIND):
        rest = [a for a in sys.argv[1:] if a != "--instructions"]
        counts = rerun_under_callgrind("bench.profile", rest)
        names = [n for n in STEPS if not args.only or n in args.only.split(",")]
        for name, count in zip(names, counts, strict=True):
            print(f"{name:10s} {count / args.n / 1000:8.0f} k instructions per request")
        return
    # The event loop uvicorn runs the server on (uvloop), so that I/O costs the same.
    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
