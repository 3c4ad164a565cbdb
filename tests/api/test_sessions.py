"""Sessions: cookie and bearer transports, expiry, sliding, sign-out."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from passkey_api.sessions import housekeeping
from passkey_api.sessions import repository as session_repository
from tests.api.conftest import Api, ApiFactory, problem_code
from tests.softauthn import SoftAuthenticator

NATIVE = {"X-Client-Type": "native"}


async def test_cookie_session_round_trip(api: Api, authenticator: SoftAuthenticator) -> None:
    signed_up = await api.sign_up(authenticator, "frank")
    assert signed_up.status_code == 201
    session = await api.client.get("/v1/session")
    assert session.status_code == 200
    assert session.json()["user"]["username"] == "frank"
    assert session.json()["session"]["id"] == signed_up.json()["session"]["id"]

    signed_out = await api.client.delete("/v1/session")
    assert signed_out.status_code == 204
    assert (
        "Max-Age=0" in signed_out.headers["set-cookie"]
        or "expires=" in signed_out.headers["set-cookie"].lower()
    )
    after = await api.client.get("/v1/session")
    assert (after.status_code, problem_code(after)) == (401, "not_authenticated")
    assert await api.scalar("SELECT count(*) FROM sessions") == 0


async def test_signed_out_cookie_is_dead_everywhere(
    api: Api, authenticator: SoftAuthenticator
) -> None:
    await api.sign_up(authenticator)
    cookie = dict(api.client.cookies)
    assert (await api.client.delete("/v1/session")).status_code == 204
    # Another device replaying the old cookie value gets nothing.
    other = httpx.AsyncClient(
        transport=api.client._transport,
        base_url=str(api.client.base_url),
        headers=api.client.headers,
    )
    other.cookies.update(cookie)
    response = await other.get("/v1/session")
    assert response.status_code == 401
    await other.aclose()


async def test_native_bearer_flow(api: Api, authenticator: SoftAuthenticator) -> None:
    signed_up = await api.sign_up(authenticator, headers=NATIVE)
    assert signed_up.status_code == 201
    assert "set-cookie" not in signed_up.headers
    token = signed_up.json()["session_token"]
    assert token
    api.client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/v1/session", headers=bearer)).status_code == 200

    signed_in = await api.sign_in(authenticator, headers=NATIVE)
    assert signed_in.status_code == 200
    second = signed_in.json()["session_token"]
    assert second
    assert second != token
    assert (await api.client.delete("/v1/session", headers=bearer)).status_code == 204
    assert (await api.client.get("/v1/session", headers=bearer)).status_code == 401
    other = {"Authorization": f"Bearer {second}"}
    assert (await api.client.get("/v1/session", headers=other)).status_code == 200


async def test_token_is_stored_only_as_a_hash(api: Api, authenticator: SoftAuthenticator) -> None:
    token = (await api.sign_up(authenticator, headers=NATIVE)).json()["session_token"]
    raw = token.split(".")[0]
    async with api.resources.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM sessions"))).all()
    dumped = repr(rows)
    assert raw not in dumped
    assert token not in dumped


async def test_tampered_or_forged_tokens_are_refused(
    api: Api, authenticator: SoftAuthenticator
) -> None:
    token = (await api.sign_up(authenticator, headers=NATIVE)).json()["session_token"]
    raw, mac = token.split(".")
    flipped = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    for value in (
        f"{flipped}.{mac}",
        f"{raw}.{mac[:-1]}A" if mac[-1] != "A" else f"{raw}.{mac[:-1]}B",
        raw,
        "",
        "é" * 87,
        token + "x",
    ):
        header = f"Bearer {value}".encode("latin-1")  # raw bytes, as a hostile client sends
        response = await api.client.get("/v1/session", headers={b"Authorization": header})
        assert response.status_code == 401, value
    api.client.cookies.set("passkey_session", f"{flipped}.{mac}")
    assert (await api.client.get("/v1/session")).status_code == 401


async def test_expired_session_is_refused_and_deleted(
    api: Api, authenticator: SoftAuthenticator
) -> None:
    await api.sign_up(authenticator)
    async with api.resources.engine.begin() as connection:
        await connection.execute(
            text("UPDATE sessions SET expires_at = :t"),
            {"t": datetime.now(UTC) - timedelta(seconds=1)},
        )
    assert (await api.client.get("/v1/session")).status_code == 401
    assert await api.scalar("SELECT count(*) FROM sessions") == 0


async def test_session_slides_when_half_spent(api: Api, authenticator: SoftAuthenticator) -> None:
    await api.sign_up(authenticator)
    soon = datetime.now(UTC) + timedelta(days=10)  # less than half of 30 days left
    async with api.resources.engine.begin() as connection:
        await connection.execute(text("UPDATE sessions SET expires_at = :t"), {"t": soon})
    response = await api.client.get("/v1/session")
    assert response.status_code == 200
    assert "set-cookie" in response.headers  # the cookie is sent again with the new expiry
    expires = datetime.fromisoformat(response.json()["session"]["expires_at"])
    assert expires > datetime.now(UTC) + timedelta(days=29)
    # A fresh session is not rewritten on every request.
    again = await api.client.get("/v1/session")
    assert "set-cookie" not in again.headers


async def test_secure_cookie_attributes(make_api: ApiFactory) -> None:
    api = await make_api(cookie_secure=True)
    response = await api.sign_up(SoftAuthenticator())
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-passkey_session=")
    for attribute in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert attribute.lower() in cookie.lower()
    assert "domain" not in cookie.lower()


async def test_session_records_user_verification(api: Api) -> None:
    key = SoftAuthenticator(user_verifying=False)
    response = await api.sign_up(key)
    assert response.json()["session"]["user_verified"] is False
    assert await api.scalar("SELECT user_verified FROM sessions") in (False, 0)


async def test_absolute_lifetime_caps_sliding(make_api: ApiFactory) -> None:
    api = await make_api(
        session_lifetime=timedelta(days=30), session_absolute_lifetime=timedelta(days=40)
    )
    await api.sign_up(SoftAuthenticator())
    # Signed in 35 days ago and active since: sliding stops at 40 days after sign-in.
    created = datetime.now(UTC) - timedelta(days=35)
    async with api.resources.engine.begin() as connection:
        await connection.execute(
            text("UPDATE sessions SET created_at = :c, expires_at = :e"),
            {"c": created, "e": datetime.now(UTC) + timedelta(days=2)},
        )
    response = await api.client.get("/v1/session")
    assert response.status_code == 200
    expires = datetime.fromisoformat(response.json()["session"]["expires_at"])
    assert abs(expires - (created + timedelta(days=40))) < timedelta(seconds=5)
    await api.execute(
        "UPDATE sessions SET created_at = :c", c=datetime.now(UTC) - timedelta(days=41)
    )
    assert (await api.client.get("/v1/session")).status_code == 401
    assert await api.scalar("SELECT count(*) FROM sessions") == 0


async def test_aal2_profile_idle_timeout(make_api: ApiFactory) -> None:
    api = await make_api(
        session_lifetime=timedelta(hours=1), session_absolute_lifetime=timedelta(hours=24)
    )
    response = await api.sign_up(SoftAuthenticator())
    expires = datetime.fromisoformat(response.json()["session"]["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    async with api.resources.engine.begin() as connection:
        await connection.execute(
            text("UPDATE sessions SET expires_at = :e"),
            {"e": datetime.now(UTC) - timedelta(seconds=1)},
        )
    assert (await api.client.get("/v1/session")).status_code == 401


async def test_sliding_cookie_also_on_routes_that_return_options(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    soon = datetime.now(UTC) + timedelta(days=10)
    async with api.resources.engine.begin() as connection:
        await connection.execute(text("UPDATE sessions SET expires_at = :t"), {"t": soon})
    response = await api.post("/v1/session/reauthenticate/options", {"purpose": "passkeys"})
    assert response.status_code == 200
    assert "set-cookie" in response.headers


async def test_session_revoked_while_read_is_not_a_500(api: Api) -> None:
    from passkey_api.sessions import repository

    user_id = (await api.sign_up(SoftAuthenticator())).json()["user"]["id"]
    async with api.resources.sessionmaker() as db:
        [session] = await repository.list_for_user(db, uuid.UUID(user_id))
        async with api.resources.engine.begin() as other:
            await other.execute(text("DELETE FROM sessions"))
        assert await repository.update(db, session, last_seen_at=datetime.now(UTC)) is False
        await db.rollback()


async def test_one_replica_prunes_at_a_time(api: Api) -> None:
    """The pruning's lock (sessions.repository.lock_pruning) lasts until the transaction
    that took it ends: meanwhile another replica's prune skips on PostgreSQL. SQLite's
    database belongs to one host, whose writers take turns: a prune never skips there."""
    now = datetime.now(UTC)
    retention = api.settings.audit_retention
    async with api.resources.databases.session() as holder:
        # The app's own hourly prune, started with it, may hold the lock for a moment.
        for _ in range(100):
            if await session_repository.lock_pruning(holder):
                break
            await holder.rollback()
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the pruning lock was never free")
        async with api.resources.databases.session() as db:
            meanwhile = await housekeeping.prune(db, now=now, audit_retention=retention)
        assert meanwhile.skipped is (api.resources.pool is not None)
        await holder.rollback()
    async with api.resources.databases.session() as db:
        assert not (await housekeeping.prune(db, now=now, audit_retention=retention)).skipped
