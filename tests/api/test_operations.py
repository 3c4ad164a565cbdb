"""Operations: request ids, metrics, JSON logs, the origin registry and /.well-known."""

from __future__ import annotations

import hashlib
import json
import logging

import httpx
import pytest

from passkey_api.web.observability import JsonFormatter
from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username, problem_code
from tests.softauthn import SoftAuthenticator, b64url

FINGERPRINT = ":".join(f"{b:02X}" for b in hashlib.sha256(b"upload key").digest())
ANDROID_ORIGIN = "android:apk-key-hash:" + b64url(hashlib.sha256(b"upload key").digest())


async def test_request_ids_are_echoed_and_land_in_problems(api: Api) -> None:
    given = await api.client.get("/v1/session", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    assert given.json()["instance"] == "urn:request:trace-42"
    made = await api.client.get("/healthz", headers={"X-Request-ID": "bad id\nwith junk"})
    assert made.headers["x-request-id"] != "bad id\nwith junk"
    assert len(made.headers["x-request-id"]) == 32


async def test_metrics(api: Api) -> None:
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    await api.sign_in(authenticator)
    stale = authenticator.get(await api.sign_in_options(), origin=ORIGIN, sign_count=0)
    await api.post("/v1/authentication/verify", stale)
    text = (await api.client.get("/metrics")).text
    assert (
        'passkey_http_requests_total{method="POST",route="/v1/registration/verify",status="201"}'
        in text
    )
    assert 'passkey_ceremonies_total{ceremony="registration",code="",outcome="succeeded"}' in text
    assert (
        'passkey_ceremonies_total{ceremony="authentication",code="sign_count_regression",'
        'outcome="failed"}' in text
    )
    assert "passkey_active_sessions" in text
    assert "passkey_database_query_duration_seconds_count" in text
    assert "passkey_http_request_duration_seconds_bucket" in text
    if api.settings.redis_url:
        assert 'passkey_challenge_store_duration_seconds_count{operation="take"}' in text


async def test_json_logs_carry_the_request_id_and_no_secrets(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await api.sign_up(
        SoftAuthenticator(), headers={"X-Request-ID": "req-7", "X-Client-Type": "native"}
    )
    token = response.json()["session_token"]
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records]
    access = [line for line in lines if line["logger"] == "passkey_api.access"]
    assert access
    assert {"time", "level", "message", "method", "route", "status", "duration_ms"} <= set(
        access[-1]
    )
    assert access[-1]["route"] == "/v1/registration/verify"
    assert "req-7" in caplog.text or any(line.get("request_id") == "req-7" for line in lines)
    assert token not in json.dumps(lines)


# --- the origin registry -------------------------------------------------------------------


async def test_android_app_origin_signs_in(make_api: ApiFactory) -> None:
    api = await make_api(
        android_apps=[{"package": "com.example.app", "sha256_cert_fingerprints": [FINGERPRINT]}]
    )
    app = SoftAuthenticator()
    options = (await api.post("/v1/registration/options", {"username": new_username()})).json()
    credential = app.create(options, origin=ANDROID_ORIGIN)
    response = await api.post(
        "/v1/registration/verify", credential, headers={"X-Client-Type": "native"}
    )
    assert response.status_code == 201, response.text
    links = (await api.client.get("/.well-known/assetlinks.json")).json()
    assert links[0]["target"] == {
        "namespace": "android_app",
        "package_name": "com.example.app",
        "sha256_cert_fingerprints": [FINGERPRINT],
    }
    assert "delegate_permission/common.get_login_creds" in links[0]["relation"]


async def test_ios_and_related_origins(make_api: ApiFactory) -> None:
    api = await make_api(
        ios_apps=[{"team_id": "ABCDE12345", "bundle_id": "com.example.app"}],
        related_origins=["https://example.co.uk"],
    )
    aasa = (await api.client.get("/.well-known/apple-app-site-association")).json()
    assert aasa == {"webcredentials": {"apps": ["ABCDE12345.com.example.app"]}}
    related = (await api.client.get("/.well-known/webauthn")).json()
    assert related == {"origins": [ORIGIN, "https://example.co.uk"]}
    # A related origin can run ceremonies for this RP ID.
    options = (await api.post("/v1/registration/options", {"username": new_username()})).json()
    credential = SoftAuthenticator().create(options, origin="https://example.co.uk")
    assert (await api.post("/v1/registration/verify", credential)).status_code == 201


async def test_well_known_documents_are_404_until_configured(api: Api) -> None:
    for path in ("assetlinks.json", "apple-app-site-association", "webauthn"):
        response = await api.client.get(f"/.well-known/{path}")
        assert (response.status_code, problem_code(response)) == (404, "not_found")


async def test_origin_mismatch_names_the_closest_allowed_origin(api: Api) -> None:
    options = (await api.post("/v1/registration/options", {"username": new_username()})).json()
    credential = SoftAuthenticator().create(options, origin="http://localhost:8080")
    response = await api.post("/v1/registration/verify", credential)
    body = response.json()
    assert body["code"] == "origin_mismatch"
    assert body["origin"] == "http://localhost:8080"
    assert body["closest_allowed_origin"] == ORIGIN
    assert ORIGIN in body["detail"]


def test_android_settings_from_json_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from passkey_api.config import Settings

    monkeypatch.setenv(
        "PASSKEY_ANDROID_APPS",
        json.dumps([{"package": "com.x.y", "sha256_cert_fingerprints": [FINGERPRINT.lower()]}]),
    )
    monkeypatch.setenv("PASSKEY_RELATED_ORIGINS", '["https://example.org"]')
    settings = Settings(secret_key="k" * 40)
    assert settings.android_apps[0].sha256_cert_fingerprints == [FINGERPRINT]
    assert ANDROID_ORIGIN in settings.allowed_origins
    assert "https://example.org" in settings.web_origins
    with pytest.raises(ValueError, match="fingerprint"):
        Settings(android_apps=[{"package": "com.x.y", "sha256_cert_fingerprints": ["AB:CD"]}])


INTERNAL_PATHS = ("/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


async def test_metrics_and_docs_kept_to_internal_networks(make_api: ApiFactory) -> None:
    # The test client's address is 203.0.113.7 (conftest): not on the internal network.
    api = await make_api(internal_networks=["10.0.0.0/8", "127.0.0.1"])
    for path in INTERNAL_PATHS:
        response = await api.client.get(path)
        assert (response.status_code, problem_code(response)) == (404, "not_found"), path
    assert (await api.client.get("/healthz")).status_code == 200
    assert (await api.client.get("/readyz")).status_code == 200
    # Through a trusted proxy, the client it names is the one judged.
    proxied = await make_api(internal_networks=["10.0.0.0/8"], trusted_proxies=["203.0.113.7"])
    inside = await proxied.client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert inside.status_code == 200
    assert "passkey_http_requests_total" in inside.text
    outside = await proxied.client.get("/docs", headers={"X-Forwarded-For": "198.51.100.1"})
    assert outside.status_code == 404
    # Without the setting (the default), they are everyone's, as before.
    default = await make_api()
    for path in INTERNAL_PATHS[:4]:
        assert (await default.client.get(path)).status_code == 200, path


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
async def test_a_blocked_internal_path_answers_as_an_unknown_path(
    make_api: ApiFactory, method: str
) -> None:
    api = await make_api(internal_networks=["10.0.0.0/8"])

    def seen(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
        # Everything a client can see but the request id, which is new for each request.
        headers = sorted((k, v) for k, v in response.headers.items() if k != "x-request-id")
        return response.status_code, headers, response.content

    unknown = seen(await api.client.request(method, "/no-such-path"))
    assert unknown[0] == 404
    for path in INTERNAL_PATHS:
        blocked = await api.client.request(method, path)
        assert seen(blocked) == unknown, path


async def test_readyz_reads_the_migration_scripts_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic.script import ScriptDirectory

    reads = 0
    from_config = ScriptDirectory.from_config

    def counted(*args: object, **kwargs: object) -> ScriptDirectory:
        nonlocal reads
        reads += 1
        return from_config(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ScriptDirectory, "from_config", counted)
    for _ in range(5):
        ready = await api.client.get("/readyz")
        assert ready.json()["checks"]["migrations"] == "ok", ready.text
    assert reads <= 1
