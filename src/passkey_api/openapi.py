"""Problem responses in the OpenAPI document, derived from the error classes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
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


def install(app: FastAPI) -> None:
    """Make the document say what the API does: every error is a problem document.

    FastAPI describes its validation errors as `HTTPValidationError` JSON; here they, like
    every other 4xx/5xx, are RFC 9457 problems (see problems.py), so the generated
    document is rewritten to match and typed clients get one error type.
    """
    base = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = base()
        problem = {"$ref": "#/components/schemas/Problem"}
        for path in spec.get("paths", {}).values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    if status[0] in "45":
                        response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": problem}}
                    if status == "422":
                        response["description"] = (
                            "Problem codes: `validation_error`, `invalid_base64url` "
                            "(and `malformed_json` with 400)"
                        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = Problem.model_json_schema()
        app.openapi_schema = spec
        return spec

    app.openapi = document  # type: ignore[method-assign]
