"""Roles, /v1/admin and the create-admin command."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.util import await_only

from passkey_api import cli
from tests.api.conftest import ORIGIN, Api, problem_code
from tests.softauthn import SoftAuthenticator


async def _admin(api: Api, username: str = "root") -> SoftAuthenticator:
    authenticator = SoftAuthenticator()
    assert (await api.sign_up(authenticator, username)).status_code == 201
    exit_code = await cli._create_admin(api.settings, username)
    assert exit_code == 0
    return authenticator


async def test_plain_user_is_forbidden(api: Api) -> None:
    await api.sign_up(SoftAuthenticator())
    for method, path in (
        ("GET", "/v1/admin/users"),
        ("GET", "/v1/admin/audit"),
        ("GET", "/v1/admin/users/00000000-0000-0000-0000-000000000000"),
        ("PATCH", "/v1/admin/users/00000000-0000-0000-0000-000000000000"),
        ("DELETE", "/v1/admin/users/00000000-0000-0000-0000-000000000000/sessions"),
    ):
        response = await api.client.request(method, path, json={})
        assert (response.status_code, problem_code(response)) == (403, "forbidden"), path
    api.client.cookies.clear()
    response = await api.client.get("/v1/admin/users")
    assert (response.status_code, problem_code(response)) == (401, "not_authenticated")


async def test_create_admin_needs_an_existing_user(api: Api) -> None:
    assert await cli._create_admin(api.settings, "nobody") == 1


async def test_list_search_and_detail(api: Api) -> None:
    for name in ("alice", "bob", "Alicia"):
        await api.sign_up(SoftAuthenticator(), name)
        api.client.cookies.clear()
    await _admin(api)
    page = (await api.client.get("/v1/admin/users", params={"limit": 2})).json()
    assert page["total"] == 4
    assert len(page["users"]) == 2
    assert page["users"][0]["username"] == "alice"
    found = (await api.client.get("/v1/admin/users", params={"q": "ALI"})).json()
    assert sorted(u["username"] for u in found["users"]) == ["Alicia", "alice"]
    assert (await api.client.get("/v1/admin/users", params={"q": "%"})).json()["total"] == 0
    alice = found["users"][0]
    detail = (await api.client.get(f"/v1/admin/users/{alice['id']}")).json()
    assert detail["passkeys"] == 1
    assert detail["sessions"] == 1
    assert detail["roles"] == ["user"]
    assert detail["disabled"] is False
    missing = await api.client.get("/v1/admin/users/00000000-0000-0000-0000-000000000000")
    assert (missing.status_code, problem_code(missing)) == (404, "not_found")
    bad = await api.client.get("/v1/admin/users/not-a-uuid")
    assert bad.status_code == 422


async def test_role_change_needs_admin_step_up(api: Api) -> None:
    user = SoftAuthenticator()
    user_id = (await api.sign_up(user, "carol")).json()["user"]["id"]
    api.client.cookies.clear()
    root = await _admin(api)
    # The sign-up's passkey stepped the session up for every purpose, admin included.
    same = await api.client.patch(f"/v1/admin/users/{user_id}", json={"roles": ["user"]})
    assert same.status_code == 200, same.text
    await api.age_sign_in()
    stale = await api.client.patch(f"/v1/admin/users/{user_id}", json={"roles": ["admin"]})
    assert (stale.status_code, problem_code(stale)) == (403, "reauthentication_required")
    # A step-up for another purpose does not count.
    assert (await api.reauthenticate(root, "passkeys")).status_code == 200
    stale = await api.client.patch(f"/v1/admin/users/{user_id}", json={"roles": ["admin"]})
    assert problem_code(stale) == "reauthentication_required"
    assert (await api.reauthenticate(root, "admin")).status_code == 200
    changed = await api.client.patch(
        f"/v1/admin/users/{user_id}", json={"roles": ["admin", "auditor"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["roles"] == ["admin", "auditor", "user"]
    bad = await api.client.patch(f"/v1/admin/users/{user_id}", json={"roles": ["Bad Role"]})
    assert bad.status_code == 422
    audit = (await api.client.get("/v1/admin/audit", params={"user_id": user_id})).json()
    assert audit["events"][0]["event"] == "roles_changed"
    assert audit["events"][0]["actor_id"] is not None


async def test_last_admin_is_kept(api: Api) -> None:
    root = await _admin(api)
    me = (await api.client.get("/v1/me")).json()
    assert (await api.reauthenticate(root, "admin")).status_code == 200
    for change in ({"roles": ["user"]}, {"disabled": True}):
        response = await api.client.patch(f"/v1/admin/users/{me['id']}", json=change)
        assert (response.status_code, problem_code(response)) == (409, "last_admin")


async def test_disabled_user_cannot_sign_in_and_loses_sessions(api: Api) -> None:
    dave = SoftAuthenticator()
    dave_id = (await api.sign_up(dave, "dave")).json()["user"]["id"]
    dave_cookies = dict(api.client.cookies)
    api.client.cookies.clear()
    root = await _admin(api)
    assert (await api.reauthenticate(root, "admin")).status_code == 200
    response = await api.client.patch(f"/v1/admin/users/{dave_id}", json={"disabled": True})
    assert response.json()["disabled"] is True
    assert response.json()["sessions"] == 0
    root_cookies = dict(api.client.cookies)

    api.client.cookies.clear()
    api.client.cookies.update(dave_cookies)
    assert (await api.client.get("/v1/session")).status_code == 401
    refused = await api.sign_in(dave)
    assert (refused.status_code, problem_code(refused)) == (403, "account_disabled")

    api.client.cookies.clear()
    api.client.cookies.update(root_cookies)
    enabled = await api.client.patch(f"/v1/admin/users/{dave_id}", json={"disabled": False})
    assert enabled.json()["disabled"] is False
    api.client.cookies.clear()
    assert (await api.sign_in(dave)).status_code == 200


async def test_force_sign_out(api: Api) -> None:
    erin = SoftAuthenticator()
    erin_id = (await api.sign_up(erin, "erin")).json()["user"]["id"]
    erin_cookies = dict(api.client.cookies)
    api.client.cookies.clear()
    root = await _admin(api)
    assert (await api.reauthenticate(root, "admin")).status_code == 200
    response = await api.client.delete(f"/v1/admin/users/{erin_id}/sessions")
    assert response.json() == {"revoked": 1}
    api.client.cookies.clear()
    api.client.cookies.update(erin_cookies)
    assert (await api.client.get("/v1/session")).status_code == 401


@pytest.mark.parametrize(
    "change", [{"roles": ["user"]}, {"disabled": True}, {"roles": ["user"], "disabled": True}]
)
async def test_two_admins_demoting_each_other_at_once_leave_one(
    api: Api, change: dict[str, Any]
) -> None:
    """The race that once left no admin on SQLite: each request read the other as an
    admin before either wrote. Forced here: every first write to users waits (up to 2 s)
    until both requests have reached theirs, so both have read whatever they read first."""
    await _admin(api, "first")
    first_id = (await api.client.get("/v1/me")).json()["id"]
    second = httpx.AsyncClient(
        transport=api.client._transport, base_url=ORIGIN, headers={"Origin": ORIGIN}
    )
    async with second:
        api_second = Api(client=second, resources=api.resources, settings=api.settings, app=api.app)
        await _admin(api_second, "second")
        second_id = (await second.get("/v1/me")).json()["id"]

        arrived = 0
        both_there = asyncio.Event()

        def hold_first_user_write(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            nonlocal arrived
            if not statement.lstrip().upper().startswith("UPDATE USERS") or arrived >= 2:
                return
            arrived += 1
            if arrived == 2:
                both_there.set()
                return
            # In SQLAlchemy's greenlet: the event loop runs the other request meanwhile. On
            # PostgreSQL the other request may be waiting on our row lock: go on after 2 s.
            with contextlib.suppress(TimeoutError):
                await_only(asyncio.wait_for(both_there.wait(), 2))

        engine = api.resources.engine.sync_engine
        event.listen(engine, "before_cursor_execute", hold_first_user_write)
        try:
            results = await asyncio.gather(
                api.client.patch(f"/v1/admin/users/{second_id}", json=change),
                second.patch(f"/v1/admin/users/{first_id}", json=change),
            )
        finally:
            event.remove(engine, "before_cursor_execute", hold_first_user_write)
    outcomes = sorted((r.status_code, r.json().get("code")) for r in results)
    assert outcomes == [(200, None), (409, "last_admin")], [r.text for r in results]
    admins = await api.scalar(
        "SELECT count(*) FROM users WHERE disabled_at IS NULL AND CAST(roles AS TEXT) LIKE :a",
        a='%"admin"%',
    )
    assert admins == 1


@pytest.mark.parametrize("attempts", [20])
async def test_concurrent_removals_keep_one_passkey(api: Api, attempts: int) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    assert (await api.reauthenticate(laptop, "passkeys")).status_code == 200
    key = SoftAuthenticator(transports=["usb"])
    assert (await api.add_passkey(key)).status_code == 201
    from tests.softauthn import b64url

    ids = [b64url(next(iter(laptop.credentials))), b64url(next(iter(key.credentials)))]
    results = await asyncio.gather(
        *(api.client.delete(f"/v1/me/passkeys/{ids[n % 2]}") for n in range(attempts))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(204) == 1, statuses
    assert set(statuses) <= {204, 404, 409}
    assert await api.scalar("SELECT count(*) FROM passkeys") == 1
    assert ORIGIN
