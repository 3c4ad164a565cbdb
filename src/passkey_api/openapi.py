"""Problem responses in the OpenAPI document, derived from the error classes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from passkey_api.errors import PROBLEM_CONTENT_TYPE, ApiError


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is the stable machine-readable reason."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None


def problem_responses(*errors: type[ApiError]) -> dict[int | str, dict[str, Any]]:
    by_status: dict[int, list[str]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error.code)
    return {
        status: {
            "model": Problem,
            "description": "Problem codes: " + ", ".join(f"`{code}`" for code in codes),
            "content": {PROBLEM_CONTENT_TYPE: {}},
        }
        for status, codes in sorted(by_status.items())
    }
