"""Request ids, one structured JSON log line per request, and HTTP metrics.

The request id comes from X-Request-ID when it is a sane token, else is generated; it is
echoed back, put in every log line of the request and in problem responses (`instance`).
Logs never carry query strings, headers, bodies or tokens.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passkey_api.kit import metrics
from passkey_api.web.guards import send_problem
from passkey_api.web.headers import raw_headers, set_header

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("passkey_api.access")


class RequestMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text = offered.decode("latin-1")
        # 128 random bits as 32 hex digits, like uuid4().hex at a fifth of its cost.
        request_id = text if _SANE_ID.fullmatch(text) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        id_value = request_id.encode()
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                set_header(raw_headers(message), b"x-request-id", id_value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Logged here, while the request id is still known, and answered as a problem
            # with it; the server's own handler would log and answer without.
            logging.getLogger("passkey_api").exception("unhandled error")
            if started_response:
                raise
            status = 500
            await send_problem(
                send_with_id,
                scope,
                500,
                "internal_error",
                "Internal error",
                "Something went wrong.",
            )
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            metrics.request_done(route, method, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "request_id": request_id,
                    },
                )
            REQUEST_ID.reset(token)


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id  # records made inside a request
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__  # the type only: texts can hold data
        return json.dumps(entry, default=str)


def configure_logging(fmt: str, level: int | str = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
