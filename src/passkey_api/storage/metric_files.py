"""Where the workers of one `serve --workers N` keep their metrics, so that /metrics
speaks for the whole server whichever worker answers: prometheus_client's multiprocess
mode. Each worker writes its counts to files of its own (named by its pid) in one
directory, and /metrics reads and sums every worker's files at each scrape.

- `serve` makes a fresh, private directory at each start (a new temporary directory,
  0700, under TMPDIR) and names it in PROMETHEUS_MULTIPROC_DIR, which the workers inherit
  and prometheus_client reads when imported; it is removed when `serve` exits. Counts of
  a worker that died stay in its files: a total never goes back because a worker was
  replaced. With one worker, `serve` clears the variable: one process needs no files.
- A worker marks itself dead as it exits (`mark_process_dead`), which drops its "live"
  gauges; the service's one gauge is "mostrecent" (kit/metrics.py), which outlives it.
- A server started another way (`uvicorn --workers N passkey_api.asgi:app`, gunicorn)
  gets the same when PROMETHEUS_MULTIPROC_DIR is set for it: an empty directory made for
  that start, as prometheus_client's documentation asks.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def share_between_workers(workers: int) -> Path | None:
    """In `serve`, before its workers start: with more than one, a fresh private directory
    for their metrics (removed when this process exits); None with one."""
    if workers < 2:
        os.environ.pop(VARIABLE, None)
        return None
    path = Path(tempfile.mkdtemp(prefix="passkey-api-metrics-"))
    os.environ[VARIABLE] = str(path)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def worker_started() -> None:
    """In each worker (asgi.py): when workers share their metrics, this one's "live"
    gauges are dropped as it exits."""
    path = os.environ.get(VARIABLE)
    if path:
        atexit.register(_exited, os.getpid(), path)


def _exited(pid: int, path: str) -> None:
    if os.path.isdir(path):  # serve may have removed it already
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


_shared: CollectorRegistry | None = None


def registry(own: CollectorRegistry) -> CollectorRegistry:
    """What /metrics serves: this process's own registry, or, when workers share their
    metrics, a registry that reads and sums every worker's files at each scrape."""
    global _shared
    path = os.environ.get(VARIABLE)
    if not path:
        return own
    if _shared is None:
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared, path)  # type: ignore[no-untyped-call]
        _shared = shared
    return _shared
