"""/healthz (the process answers) and /readyz (its dependencies answer)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from passkey_api import migrations
from passkey_api.resources import ResourcesDep

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
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
