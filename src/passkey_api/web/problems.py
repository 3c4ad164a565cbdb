"""Exception handlers: every failure leaves as an RFC 9457 problem response."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.types import Scope

from passkey_api.errors import (
    PROBLEM_CONTENT_TYPE,
    ApiError,
    ChallengeStoreUnavailable,
    CredentialIdTooLong,
    DatabaseUnavailable,
    InvalidBase64Url,
    MalformedJson,
    SessionCacheUnavailable,
    ValidationFailed,
    instance_of,
    problem_body,
)
from passkey_api.storage.redispipe import RedisRefused

log = logging.getLogger(__name__)

_HTTP_CODES = {
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body, status_code=int(body["status"]), media_type=PROBLEM_CONTENT_TYPE, headers=headers
    )


def api_error_response(exc: ApiError, scope: Scope) -> JSONResponse:
    """An ApiError's answer; also for middleware that refuses a request before routing."""
    return problem_response(exc.problem(instance_of(scope)), headers=exc.headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return api_error_response(exc, request.scope)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    kinds = {str(error.get("type")) for error in raw}
    error: ApiError
    if "json_invalid" in kinds:
        error = MalformedJson()
    elif any(e.get("type") == "too_long" and e.get("loc", ())[-1:] == ("rawId",) for e in raw):
        error = CredentialIdTooLong()
    elif "base64url" in kinds:
        error = InvalidBase64Url()
    else:
        error = ValidationFailed()
    # Never echo the input back: it may hold a credential or a token.
    details = [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            "type": e.get("type"),
            "msg": e.get("msg"),
        }
        for e in raw[:20]
    ]
    return problem_response(error.problem(instance_of(request.scope)) | {"errors": details})


def http_error_response(exc: HTTPException) -> JSONResponse:
    """Starlette's own refusals (an unknown path, a wrong method); also for middleware that
    must answer exactly as one of them does."""
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "HTTP error"
    body = problem_body(status=exc.status_code, code=code, title=detail, detail=detail)
    return problem_response(body, headers=dict(exc.headers) if exc.headers else None)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return http_error_response(exc)


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    lost_connection = isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if isinstance(exc, DBAPIError) and not lost_connection:
        return await _unexpected(request, exc)
    log.warning("database unavailable: %s", type(exc).__name__)
    return api_error_response(DatabaseUnavailable(), request.scope)


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("challenge store unavailable: %s", type(exc).__name__)
    return api_error_response(ChallengeStoreUnavailable(), request.scope)


async def _change_refused(request: Request, exc: Exception) -> JSONResponse:
    log.warning("change not committed: %s", exc)
    return api_error_response(SessionCacheUnavailable(), request.scope)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = problem_body(
        status=500, code="internal_error", title="Internal error", detail="Something went wrong."
    )
    return problem_response(body)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_down)
    # The hot statements' own asyncpg pool (db.py) raises asyncpg's errors directly:
    # a lost or refused connection, or a server out of connections, is an outage (503);
    # a value asyncpg could not encode is a bug (500, logged with its traceback).
    for lost in (
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.OperatorInterventionError,
        asyncpg.exceptions.InsufficientResourcesError,
        asyncpg.exceptions.TransactionRollbackError,
    ):
        app.add_exception_handler(lost, _database_down)
    for bug in (asyncpg.exceptions.DataError, asyncpg.exceptions.ClientConfigurationError):
        app.add_exception_handler(bug, _unexpected)
    app.add_exception_handler(ConnectionError, _database_down)
    app.add_exception_handler(OSError, _database_down)
    app.add_exception_handler(RedisError, _redis_down)
    app.add_exception_handler(RedisRefused, _change_refused)
    app.add_exception_handler(Exception, _unexpected)
