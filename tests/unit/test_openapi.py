"""openapi.json is generated from the app and committed; it must not drift from the code."""

from pathlib import Path

from passkey_api.cli import openapi_json

SPEC = Path(__file__).resolve().parents[2] / "openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    assert SPEC.read_text() == openapi_json(), (
        "openapi.json is stale: run `passkey-api openapi -o openapi.json` and commit it"
    )
