"""/healthz (the process answers) and /readyz (its dependencies answer)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from passkey_api.kit import metrics
from passkey_api.sessions import repository as sessions_repository
from passkey_api.storage import metric_files, migrations
from passkey_api.web.resources import ResourcesDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(resources: ResourcesDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        async with asyncio.timeout(3):
            async with resources.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            if resources.pool is not None:  # the hot statements' own connections
                await resources.pool.fetchrow("SELECT 1", read_only=True)
            current = await migrations.current_revision(resources.engine)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == migrations.head_revision() else "pending"
    except Exception:
        checks["database"] = "unavailable"
    try:
        async with asyncio.timeout(3):
            await resources.challenges.ping()
        checks["challenge_store"] = "ok"
    except Exception:
        checks["challenge_store"] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if resources.metadata.enabled:
        # Details, not a check: stale or missing metadata never makes a replica unready
        # (it has what it has either way; the log and passkey_mds_* say more).
        body["details"] = {"authenticator_metadata": resources.metadata.status(datetime.now(UTC))}
    return JSONResponse(body, status_code=200 if ready else 503)


_active_sessions_checked = 0.0


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(resources: ResourcesDep) -> Response:
    """Prometheus exposition format, for the whole server (every worker's counts: see
    storage/metric_files.py). Put it behind your network's access rules."""
    global _active_sessions_checked
    now = time.monotonic()
    if now - _active_sessions_checked > 15:  # a count, not a hot path: at most every 15 s
        _active_sessions_checked = now
        try:
            async with resources.sessionmaker() as db:
                count = await sessions_repository.count_active(db, datetime.now(UTC))
            metrics.ACTIVE_SESSIONS.set(count)
        except Exception:  # the gauge goes stale; the rest of the metrics still matter
            log.warning("could not count active sessions for /metrics")
    exposed = generate_latest(metric_files.registry(metrics.REGISTRY))
    return Response(exposed, media_type=CONTENT_TYPE_LATEST)
