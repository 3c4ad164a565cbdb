"""Recovery codes: made behind a step-up, work once, fail alike whatever is wrong, and give
a restricted session that can only add a passkey (which upgrades it)."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import text

from passkey_api.api.dependencies import (
    current_session,
    optional_session,
)
from passkey_api.recovery import codes
from passkey_api.sessions.service import RECOVERY_ALLOWED
from passkey_api.storage.db import insert_row
from passkey_api.storage.models import RecoveryCode
from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username, problem_code
from tests.softauthn import SoftAuthenticator

CODE_FORMAT = re.compile(r"^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}$")
NATIVE = {"X-Client-Type": "native"}
NOW = datetime.now(UTC)


def device(api: Api, ip: str | None = None, **headers: str) -> httpx.AsyncClient:
    """Another browser (its own cookie jar) on the allowed origin, from `ip` if given (a
    fresh address for rate-limit tests: counters in Redis outlive a test)."""
    transport = api.client._transport
    if ip is not None:
        assert isinstance(transport, httpx.ASGITransport)
        transport = httpx.ASGITransport(app=transport.app, client=(ip, 5000))
    return httpx.AsyncClient(
        transport=transport, base_url=ORIGIN, headers={"Origin": ORIGIN, **headers}
    )


def fresh_ip() -> str:
    return f"ip-{secrets.token_hex(6)}"


async def user_with_codes(api: Api) -> tuple[str, SoftAuthenticator, list[str]]:
    authenticator = SoftAuthenticator()
    username = new_username()
    assert (await api.sign_up(authenticator, username)).status_code == 201
    assert (await api.reauthenticate(authenticator, "recovery")).status_code == 200
    response = await api.client.post("/v1/me/recovery-codes")
    assert response.status_code == 201, response.text
    return username, authenticator, response.json()["codes"]


async def recover(client: httpx.AsyncClient, username: str, code: str, **kw: Any) -> httpx.Response:
    return await client.post("/v1/recovery/verify", json={"username": username, "code": code}, **kw)


def _stable(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("instance", None)  # the request id differs, by design
    return body


async def test_generating_codes_needs_a_recovery_step_up(api: Api) -> None:
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    status = await api.client.get("/v1/me/recovery-codes")
    assert status.json() == {"remaining": 0, "total": 0, "generated_at": None}
    await api.age_sign_in()  # past the sign-up's own step-up
    denied = await api.client.post("/v1/me/recovery-codes")
    assert (denied.status_code, problem_code(denied)) == (403, "reauthentication_required")
    assert denied.json()["purpose"] == "recovery"
    # A step-up for another purpose does not open this one.
    assert (await api.reauthenticate(authenticator, "passkeys")).status_code == 200
    denied = await api.client.post("/v1/me/recovery-codes")
    assert problem_code(denied) == "reauthentication_required"

    assert (await api.reauthenticate(authenticator, "recovery")).status_code == 200
    made = await api.client.post("/v1/me/recovery-codes")
    assert made.status_code == 201
    codes = made.json()["codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(CODE_FORMAT.match(code) for code in codes)
    status = (await api.client.get("/v1/me/recovery-codes")).json()
    assert (status["remaining"], status["total"]) == (10, 10)
    assert status["generated_at"] is not None
    # Only HMACs are stored: no code, in any spelling, is in the table.
    async with api.resources.engine.connect() as connection:
        rows = repr((await connection.execute(text("SELECT * FROM recovery_codes"))).all())
    for code in codes:
        assert code not in rows
        assert code.replace("-", "") not in rows
        assert code.replace("-", "").encode().hex() not in rows


async def test_a_code_works_once(api: Api) -> None:
    username, _, codes = await user_with_codes(api)
    async with device(api) as phone:
        # Typed loosely: lower case, spaces instead of dashes.
        typed = codes[0].lower().replace("-", " ")
        response = await recover(phone, username, typed)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"]["username"] == username
        assert body["session"]["scope"] == "recovery"
        assert body["session"]["user_verified"] is False
        assert body.get("session_token") is None  # a browser gets the cookie
        session = (await phone.get("/v1/session")).json()
        assert session["session"]["scope"] == "recovery"
    async with device(api) as thief:
        again = await recover(thief, username, codes[0])
        assert (again.status_code, problem_code(again)) == (400, "recovery_failed")
    status = (await api.client.get("/v1/me/recovery-codes")).json()
    assert (status["remaining"], status["total"]) == (9, 10)


async def test_used_wrong_and_unknown_fail_identically(api: Api) -> None:
    username, _, codes = await user_with_codes(api)
    async with device(api) as client:
        assert (await recover(client, username, codes[1])).status_code == 200
    answers = []
    async with device(api) as client:
        for name, code in (
            (username, codes[1]),  # used
            (username, "ABCD-EFGH-JKMN"),  # wrong
            (new_username(), codes[2]),  # unknown user, a real code of someone else
            ("x" * 63 + "\u00df", codes[2]),  # an impossible name (too long once folded)
            (username, "not even a code"),
        ):
            response = await recover(client, name, code)
            answers.append((response.status_code, _stable(response)))
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0][0] == 400
    assert answers[0][1]["code"] == "recovery_failed"
    # Nothing was spent by the failures.
    status = (await api.client.get("/v1/me/recovery-codes")).json()
    assert status["remaining"] == 9


async def test_every_use_is_audited(api: Api) -> None:
    username, _, codes = await user_with_codes(api)
    async with device(api) as client:
        assert problem_code(await recover(client, username, "WRONG-CODE-0000")) == (
            "recovery_failed"
        )
        assert (await recover(client, username, codes[0])).status_code == 200
    events = (await api.client.get("/v1/me/activity")).json()["events"]
    used = [e for e in events if e["event"] == "recovery_code_used"]
    assert [e["success"] for e in used] == [True, False]  # newest first
    assert used[1]["code"] == "recovery_failed"
    assert used[0]["details"]["remaining"] == 9
    assert "recovery_codes_generated" in {e["event"] for e in events}
    # The codes never appear in the trail.
    assert not any(code in repr(events) for code in codes)


async def test_regenerating_replaces_every_old_code(api: Api) -> None:
    username, _authenticator, old = await user_with_codes(api)
    async with device(api) as client:
        assert (await recover(client, username, old[0])).status_code == 200
    new = (await api.client.post("/v1/me/recovery-codes")).json()["codes"]  # step-up still fresh
    assert not set(new) & set(old)
    async with device(api) as client:
        for code in old[1:3]:
            response = await recover(client, username, code)
            assert problem_code(response) == "recovery_failed"
        assert (await recover(client, username, new[0])).status_code == 200
    status = (await api.client.get("/v1/me/recovery-codes")).json()
    assert (status["remaining"], status["total"]) == (9, 10)


async def test_fifty_concurrent_uses_of_one_code_make_one_session(api: Api) -> None:
    username, _, codes = await user_with_codes(api)
    before = await api.scalar("SELECT count(*) FROM sessions")
    clients = [device(api) for _ in range(50)]
    responses = await asyncio.gather(*(recover(c, username, codes[0]) for c in clients))
    for client in clients:
        await client.aclose()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 49
    assert {problem_code(r) for r in responses if r.status_code == 400} == {"recovery_failed"}
    assert await api.scalar("SELECT count(*) FROM sessions") == before + 1
    assert await api.scalar("SELECT count(*) FROM sessions WHERE scope = 'recovery'") == 1


async def test_a_disabled_account_cannot_recover(api: Api) -> None:
    username, _, codes = await user_with_codes(api)
    await api.execute(
        "UPDATE users SET disabled_at = CURRENT_TIMESTAMP WHERE username = :name",
        name=username,
    )
    async with device(api) as client:
        response = await recover(client, username, codes[0])
        assert (response.status_code, problem_code(response)) == (400, "recovery_failed")


async def test_the_restricted_session_is_refused_by_every_other_route(api: Api) -> None:
    username, _, codes = await user_with_codes(api)
    async with device(api) as client:
        assert (await recover(client, username, codes[0])).status_code == 200
        app = api.client._transport.app  # type: ignore[attr-defined]
        refused = []
        for route in _api_routes(app):
            if not _reads_the_session(route.dependant):
                continue
            path = re.sub(r"\{[a-z_]+\}", "00000000-0000-0000-0000-000000000000", route.path)
            for method in sorted(route.methods or ()):
                if (method, route.path) in RECOVERY_ALLOWED:
                    continue
                body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
                response = await client.request(method, path, json=body)
                assert (response.status_code, problem_code(response)) == (
                    403,
                    "recovery_session_restricted",
                ), (method, route.path)
                refused.append((method, route.path))
        # Everything an account can do, bar the allow-list (a sanity bound on the walk).
        assert len(refused) >= 20, refused
        assert ("GET", "/v1/me") in refused
        assert ("POST", "/v1/session/reauthenticate/options") in refused
        assert ("POST", "/v1/me/recovery-codes") in refused
        assert ("DELETE", "/v1/me/sessions") in refused
        # What it may do.
        assert (await client.get("/v1/session")).status_code == 200
        options = await client.post("/v1/me/passkeys/options", json={})
        assert options.status_code == 200
        assert (await client.delete("/v1/session")).status_code == 204
        assert (await client.get("/v1/session")).status_code == 401


def _api_routes(app: Any) -> list[APIRoute]:
    """Every API route, also those of included routers (which FastAPI may keep nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies included routes into app.routes
        return [r for r in app.routes if isinstance(r, APIRoute)]
    found = (context.original_route for context in iter_route_contexts(app.routes))
    return [route for route in found if isinstance(route, APIRoute)]


def _reads_the_session(dependant: Any) -> bool:
    return any(
        d.call in (optional_session, current_session) or _reads_the_session(d)
        for d in dependant.dependencies
    )


async def test_adding_a_passkey_upgrades_the_session_and_lists_the_others(api: Api) -> None:
    username, _, codes = await user_with_codes(api)
    original = (await api.client.get("/v1/session")).json()["session"]["id"]
    async with device(api, **{"User-Agent": "Replacement/1.0"}) as phone:
        recovered = await recover(phone, username, codes[0])
        recovery_session = recovered.json()["session"]["id"]
        recovery_cookie = dict(phone.cookies)
        new_key = SoftAuthenticator()
        options = await phone.post("/v1/me/passkeys/options", json={})
        assert options.status_code == 200
        added = await phone.post(
            "/v1/me/passkeys/verify", json=new_key.create(options.json(), origin=ORIGIN)
        )
        assert added.status_code == 201, added.text
        body = added.json()
        assert body["id"]
        result = body["recovered"]
        assert result["session"]["scope"] == "full"
        assert result["session"]["id"] != recovery_session
        assert result["session_token"] is None
        assert [s["id"] for s in result["other_sessions"]] == [original]
        assert all(s["current"] is False for s in result["other_sessions"])
        # The new cookie works everywhere; the recovery token is dead.
        now = (await phone.get("/v1/session")).json()["session"]
        assert (now["id"], now["scope"]) == (result["session"]["id"], "full")
        assert (await phone.get("/v1/me")).status_code == 200
        async with device(api) as replay:
            replay.cookies.update(recovery_cookie)
            assert (await replay.get("/v1/session")).status_code == 401
        # The new passkey signs in, and the user can now remove a thief's session.
        phone.cookies.clear()
        assert (await _sign_in(phone, new_key)).status_code == 200
        assert (await _reauthenticate(phone, new_key, "sessions")).status_code == 200
        assert (await phone.delete(f"/v1/me/sessions/{original}")).status_code == 204
    events = [
        e["event"]
        for e in (await _activity(api, username))
        if e["event"] in ("recovery_code_used", "passkey_added", "recovery_completed")
    ]
    # One of each (the last two share their time, so their order is not asserted).
    assert sorted(events) == ["passkey_added", "recovery_code_used", "recovery_completed"]


async def test_upgrade_by_bearer_returns_a_new_token(api: Api) -> None:
    username, _, codes = await user_with_codes(api)
    async with device(api) as app:
        recovered = await recover(app, username, codes[0], headers=NATIVE)
        assert "set-cookie" not in recovered.headers
        token = recovered.json()["session_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await app.get("/v1/me", headers=bearer)).status_code == 403
        options = await app.post("/v1/me/passkeys/options", json={}, headers=bearer)
        credential = SoftAuthenticator().create(options.json(), origin=ORIGIN)
        added = await app.post("/v1/me/passkeys/verify", json=credential, headers=bearer)
        assert added.status_code == 201
        assert "set-cookie" not in added.headers
        new_token = added.json()["recovered"]["session_token"]
        assert new_token
        assert new_token != token
        assert (await app.get("/v1/me", headers=bearer)).status_code == 401
        new = {"Authorization": f"Bearer {new_token}"}
        assert (await app.get("/v1/me", headers=new)).status_code == 200


async def test_a_full_session_adding_a_passkey_is_not_upgraded(api: Api) -> None:
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    assert (await api.reauthenticate(authenticator, "passkeys")).status_code == 200
    added = await api.add_passkey(SoftAuthenticator())
    assert added.status_code == 201
    assert added.json()["recovered"] is None


async def test_the_recovery_session_is_short_and_does_not_slide(make_api: ApiFactory) -> None:
    api = await make_api()
    username, _, codes = await user_with_codes(api)
    async with device(api) as client:
        session = (await recover(client, username, codes[0])).json()["session"]
        lifetime = datetime.fromisoformat(session["expires_at"]) - datetime.fromisoformat(
            session["created_at"]
        )
        assert lifetime == api.settings.recovery_session_lifetime
        # Used, it keeps its end (a full session this close to its end would be extended).
        again = (await client.get("/v1/session")).json()["session"]
        assert again["expires_at"] == session["expires_at"]
        assert "set-cookie" not in (await client.get("/v1/session")).headers
        await api.execute("UPDATE sessions SET expires_at = created_at WHERE scope = 'recovery'")
        assert (await client.get("/v1/session")).status_code == 401


async def test_recovery_is_rate_limited(make_api: ApiFactory) -> None:
    api = await make_api(rate_limits=True, rate_limit_recovery_account="3/hour")
    username, _, _ = await user_with_codes(api)
    async with device(api, fresh_ip()) as client:
        for _ in range(3):
            assert problem_code(await recover(client, username, "WRONG")) == "recovery_failed"
        limited = await recover(client, username, "WRONG")
        assert (limited.status_code, problem_code(limited)) == (429, "rate_limited")
        assert int(limited.headers["Retry-After"]) > 0
        # Another account is its own bucket.
        other = await recover(client, new_username(), "WRONG")
        assert problem_code(other) == "recovery_failed"
    # From another address the account is not limited: nobody can lock its owner out.
    async with device(api, fresh_ip()) as owner:
        assert problem_code(await recover(owner, username, "WRONG")) == "recovery_failed"
    api = await make_api(rate_limits=True, rate_limit_recovery_ip="2/hour")
    async with device(api, fresh_ip()) as client:
        for _ in range(2):
            assert problem_code(await recover(client, new_username(), "X")) == "recovery_failed"
        assert problem_code(await recover(client, new_username(), "X")) == "rate_limited"


async def test_bad_bodies_are_problems(api: Api) -> None:
    for body in ({}, {"username": "a"}, {"username": "a", "code": ""}, {"code": "x" * 65}):
        response = await api.post("/v1/recovery/verify", body)
        assert (response.status_code, problem_code(response)) == (422, "validation_error")


async def _sign_in(client: httpx.AsyncClient, authenticator: SoftAuthenticator) -> httpx.Response:
    options = (await client.post("/v1/authentication/options", json={})).json()
    return await client.post(
        "/v1/authentication/verify", json=authenticator.get(options, origin=ORIGIN)
    )


async def _reauthenticate(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, purpose: str
) -> httpx.Response:
    options = await client.post("/v1/session/reauthenticate/options", json={"purpose": purpose})
    return await client.post(
        "/v1/session/reauthenticate/verify", json=authenticator.get(options.json(), origin=ORIGIN)
    )


async def _activity(api: Api, username: str) -> list[dict[str, Any]]:
    async with api.resources.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT a.event FROM audit_events a JOIN users u ON u.id = a.user_id "
                "WHERE u.username = :name ORDER BY a.at DESC"
            ),
            {"name": username},
        )
        return [{"event": row[0]} for row in rows]


async def _rows(api: Api) -> list[Any]:
    async with api.resources.engine.connect() as connection:
        return list(
            (
                await connection.execute(
                    text("SELECT user_id, lookup, salt, code_hash FROM recovery_codes")
                )
            ).all()
        )


async def test_codes_are_stored_with_a_salted_slow_hash(api: Api) -> None:
    """Not an HMAC with the secret key: whoever knows the key and copies the table must
    still run scrypt, with each code's own salt, for every guess (ASVS 5.0 6.5.2)."""
    _, _, made = await user_with_codes(api)
    rows = await _rows(api)
    assert len(rows) == 10
    user_id = uuid.UUID(str(rows[0].user_id))
    by_lookup = {row.lookup: row for row in rows}
    assert len({bytes(row.salt) for row in rows}) == 10
    for code in made:
        typed = codes.parse(code)
        assert typed is not None
        row = by_lookup[typed.lookup]
        assert len(bytes(row.salt)) == 16
        assert bytes(row.code_hash) != codes.digest(api.resources.secret_key, user_id, code)
        assert codes.slow_hash(user_id, typed, bytes(row.salt)) == bytes(row.code_hash)


async def test_one_attempt_costs_one_slow_hash(api: Api, monkeypatch: Any) -> None:
    """Whatever is tried, a code of the current form costs one scrypt, never one per
    stored code: the code's first group names the row to check."""
    username, _, made = await user_with_codes(api)
    calls: list[int] = []
    slow_hash = codes.slow_hash

    def counted(*args: Any) -> bytes:
        calls.append(1)
        return slow_hash(*args)

    monkeypatch.setattr(codes, "slow_hash", counted)
    wrong_secret = made[0][:5] + (
        "2222-2222-2222" if made[0][5:] != "2222-2222-2222" else "3333-3333-3333"
    )
    unknown_lookup = next(
        f"{a}{a}{a}{a}-" + made[0][5:]
        for a in codes.ALPHABET
        if not any(code.startswith(a * 4) for code in made)
    )
    async with device(api) as client:
        for name, code, status in (
            (username, wrong_secret, 400),
            (username, unknown_lookup, 400),
            (new_username(), made[1], 400),
            (username, made[1], 200),
            (username, made[1], 400),  # used
        ):
            calls.clear()
            response = await recover(client, name, code)
            assert response.status_code == status, (name, code, response.text)
            assert len(calls) == 1, (name, code)
        calls.clear()
        assert (await recover(client, username, "ABCD-EFGH-JKMN")).status_code == 400
        assert calls == []  # the old form is an HMAC, as before


async def test_codes_made_before_keep_working(api: Api) -> None:
    """Codes stored as HMACs with the secret key (before lookups) still work, once; a new
    set replaces them with the slow hash."""
    authenticator = SoftAuthenticator()
    username = new_username()
    assert (await api.sign_up(authenticator, username)).status_code == 201
    user_id = uuid.UUID(str(await api.scalar("SELECT id FROM users")))
    old = ["ABCD-EFGH-JK23", "23AB-CDEF-GHJK"]
    async with api.resources.sessionmaker() as db:
        for code in old:  # as they were stored: an HMAC, no lookup, no salt
            digest = codes.digest(api.resources.secret_key, user_id, code)
            await insert_row(
                db, RecoveryCode(id=uuid.uuid4(), user_id=user_id, code_hash=digest, created_at=NOW)
            )
        await db.commit()
    status = (await api.client.get("/v1/me/recovery-codes")).json()
    assert (status["remaining"], status["total"]) == (2, 2)
    async with device(api) as client:
        assert (await recover(client, username, "abcd efgh jk23")).status_code == 200
        again = await recover(client, username, old[0])
        assert (again.status_code, problem_code(again)) == (400, "recovery_failed")
    status = (await api.client.get("/v1/me/recovery-codes")).json()
    assert (status["remaining"], status["total"]) == (1, 2)
