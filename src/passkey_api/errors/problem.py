"""The problem details every failure leaves as (RFC 9457): ApiError, the base of every
code, and the body it renders to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    # Unavailability is temporary: clients are told when to try again.
    retry_after: ClassVar[int | None] = None

    def __init__(
        self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        self.detail = detail or self.title
        if headers is None and self.retry_after is not None:
            headers = {"Retry-After": str(self.retry_after)}
        self.headers = headers
        self.extensions = extensions
        super().__init__(self.detail)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(
            status=self.status,
            code=self.code,
            title=self.title,
            detail=self.detail,
            instance=instance,
            **self.extensions,
        )


def instance_of(scope: Mapping[str, Any]) -> str | None:
    """A problem's `instance`: the request id that RequestMiddleware put in the ASGI
    scope's state, as a URN (None before that middleware ran)."""
    request_id = scope.get("state", {}).get("request_id")
    return f"urn:request:{request_id}" if request_id else None


def problem_body(
    *, status: int, code: str, title: str, detail: str, instance: str | None = None, **ext: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:passkey-api:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(ext)
    return body
