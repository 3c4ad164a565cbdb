"""Problem responses in the OpenAPI document, derived from the error classes."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from passkey_api.errors import PROBLEM_CONTENT_TYPE, ApiError, RecoverySessionRestricted
from passkey_api.sessions.service import RECOVERY_ALLOWED


class UnknownCredentialSignal(BaseModel):
    """Argument of PublicKeyCredential.signalUnknownCredential()."""

    rpId: str
    credentialId: str


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is the stable machine-readable reason. The
    optional members appear with the codes named in their descriptions."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = Field(default=None, description="urn:request:<X-Request-ID>")
    purpose: Literal["passkeys", "sessions", "admin", "recovery", "identities"] | None = Field(
        default=None, description="reauthentication_required: the step-up to perform"
    )
    signal_unknown_credential: UnknownCredentialSignal | None = Field(
        default=None, description="unknown_credential"
    )
    retry_after: int | None = Field(default=None, description="rate_limited: seconds")
    origin: str | None = Field(default=None, description="origin_mismatch: the refused origin")
    closest_allowed_origin: str | None = Field(default=None, description="origin_mismatch")
    role: str | None = Field(default=None, description="forbidden: the role needed")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="validation_error: where and what"
    )


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


def _document_recovery_refusals(spec: dict[str, Any]) -> None:
    """Every operation that needs a session refuses a recovery session (403), bar the
    allow-list: enforced in one dependency, so documented here in one place too."""
    code = f"`{RecoverySessionRestricted.code}`"
    for path_name, path in spec.get("paths", {}).items():
        for method, operation in path.items():
            responses = operation.get("responses", {})
            if "401" not in responses or (method.upper(), path_name) in RECOVERY_ALLOWED:
                continue
            forbidden = responses.setdefault("403", {"description": "Problem codes: "})
            described = forbidden.get("description", "Problem codes: ")
            forbidden["description"] = (
                described + code if described.endswith(": ") else f"{described}, {code}"
            )


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
        _document_recovery_refusals(spec)
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
        problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem_schema.pop("$defs", {}))
        schemas["Problem"] = problem_schema
        app.openapi_schema = spec
        return spec

    app.openapi = document  # type: ignore[method-assign]
