"""Schemathesis against the committed openapi.json on a live server: whatever it sends
(valid, invalid, odd), the answer is never a 5xx and every error is a problem document.

Bounded (PASSKEY_FUZZ_EXAMPLES per operation, default 25) and derandomised, so CI stays
fast and a failure reproduces; raise the number locally to dig deeper.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from tests.e2e.harness import Server

SPEC = Path(__file__).resolve().parents[2] / "openapi.json"
EXAMPLES = int(os.environ.get("PASSKEY_FUZZ_EXAMPLES", "25"))

schema = schemathesis.openapi.from_path(SPEC)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_problem_bodies(
    case: schemathesis.Case[Any], live_server: Server
) -> None:
    # Same-origin, as the browser page would send; the CSRF check has its own tests.
    response = case.call(base_url=live_server.base_url, headers={"Origin": live_server.base_url})
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    if response.status_code >= 400:
        content_type = ";".join(response.headers.get("content-type", []))
        assert content_type.startswith("application/problem+json"), (case.path, content_type)
        body = response.json()
        assert isinstance(body.get("code"), str)
        assert body.get("status") == response.status_code
