"""`passkey-api serve --workers 2`: /metrics speaks for the whole server, whichever worker
answers it. Requests on many connections land on both workers; every scrape, by either
worker, counts all of them (storage/metric_files.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.services import REDIS_URL, postgres_database, require_redis

REQUESTS = "passkey_http_requests_total"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    port: int
    # Where the server's temporary files go (TMPDIR): its metrics directory among them.
    tmp: Path
    process: asyncio.subprocess.Process
    # Requests answered, whatever their path: what the server must have counted.
    answered: int = 0

    async def get(self, path: str) -> tuple[int, str]:
        """One request on a connection of its own (so that either worker may take it)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            writer.write(request.encode())
            answer = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        self.answered += 1
        return status, body.decode()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    await require_redis()  # --workers > 1 needs Redis, and a database they share
    async with postgres_database("passkey_metrics") as database_url:
        port = _free_port()
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PASSKEY_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env |= {
            "TMPDIR": str(tmp),
            "PASSKEY_DATABASE_URL": database_url,
            "PASSKEY_REDIS_URL": REDIS_URL,
            "PASSKEY_SECRET_KEY": secrets.token_urlsafe(40),
            # Every request here comes from one address: no limit may refuse one.
            "PASSKEY_RATE_LIMITS": "false",
        }
        command = [
            str(Path(sys.executable).with_name("passkey-api")),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ]
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *command, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        started = Server(port=port, tmp=tmp, process=process)
        try:
            # Up: both workers have imported the app (each has made its metrics' files)
            # and one answers.
            deadline = time.monotonic() + 60
            while process.returncode is None and time.monotonic() < deadline:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    imported = len(list(tmp.glob("*/histogram_*.db"))) == 2
                    if imported and (await started.get("/healthz"))[0] == 200:
                        break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(log_path.read_text())
            yield started
        finally:
            await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


def _metrics_dir(server: Server) -> Path:
    (found,) = server.tmp.glob("passkey-api-metrics-*")
    return found


def _counted_by_worker(server: Server) -> dict[int, dict[str, float]]:
    """What each worker has written to its own file: requests by route."""
    counted: dict[int, dict[str, float]] = {}
    for file in _metrics_dir(server).glob("counter_*.db"):
        pid = int(file.stem.removeprefix("counter_"))
        routes = counted.setdefault(pid, {})
        merge = MultiProcessCollector.merge
        for family in merge([str(file)], accumulate=False):  # type: ignore[no-untyped-call]
            for sample in family.samples:
                if sample.name == REQUESTS:
                    route = sample.labels["route"]
                    routes[route] = routes.get(route, 0) + sample.value
    return counted


def _exposed(text: str) -> dict[str, float]:
    """passkey_http_requests_total by route, as one answer of /metrics says."""
    routes: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == REQUESTS:
                route = sample.labels["route"]
                routes[route] = routes.get(route, 0) + sample.value
    return routes


async def test_metrics_count_every_worker_whichever_answers(server: Server) -> None:
    # Connections a few at a time, until both workers have served some. (A worker woken
    # by a new connection accepts every one waiting: which one takes a batch is chance.)
    for _ in range(200):
        answers = await asyncio.gather(*(server.get("/healthz") for _ in range(8)))
        assert all(status == 200 for status, _ in answers)
        workers = _counted_by_worker(server)
        if sum(1 for routes in workers.values() if routes.get("/healthz")) == 2:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"the requests all went to one worker: {workers}")
    made = server.answered
    # A worker counts a request once its answer is sent (and the connection closed).
    for _ in range(100):
        workers = _counted_by_worker(server)
        if sum(routes.get("/healthz", 0) for routes in workers.values()) == made:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"{made} requests answered, the workers' files say {workers}")

    # Scrape, one connection each, until both workers have answered /metrics; each answer
    # counts every request made, and every scrape answered before it.
    answered_by: set[int] = set()
    for scrapes in range(200):
        before = _counted_by_worker(server)
        status, text = await server.get("/metrics")
        assert status == 200
        exposed = _exposed(text)
        assert exposed.pop("/metrics", 0) == scrapes
        assert sum(exposed.values()) == made, exposed
        # The worker that answered counts the scrape once its answer is sent.
        for _ in range(100):
            after = _counted_by_worker(server)
            grew = [
                pid
                for pid, routes in after.items()
                if routes.get("/metrics", 0) > before.get(pid, {}).get("/metrics", 0)
            ]
            if grew:
                break
            await asyncio.sleep(0.02)
        assert len(grew) == 1, (before, after)
        answered_by.add(grew[0])
        if len(answered_by) == 2:
            break
    assert answered_by == set(workers), (answered_by, set(workers))

    # The directory was the server's own, and goes with it.
    directory = _metrics_dir(server)
    assert directory.stat().st_mode & 0o077 == 0
    await _stop(server.process)
    assert server.process.returncode == 0
    assert not directory.exists()
