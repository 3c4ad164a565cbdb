"""Disabling an account ends its sessions, including one being created: a sign-in that read
the account just before an admin disabled it writes its session after the disable
committed. That session must never work, not while the account is disabled and not once it
is enabled again. Each test forces that order with a real admin request, made right after
the sign-in's own read of the user (the repository function wrapped, the database real)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from passkey_api import cli
from passkey_api.passkeys import repository as passkeys_repository
from passkey_api.users import repository as users_repository
from tests.api.conftest import ORIGIN, Api, new_username, problem_code
from tests.api.test_recovery_codes import device, recover, user_with_codes
from tests.softauthn import SoftAuthenticator


class Admin:
    """An admin in a browser of their own, stepped up by signing up a moment ago."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @classmethod
    async def of(cls, api: Api) -> Admin:
        client = device(api)
        username = new_username()
        options = await client.post("/v1/registration/options", json={"username": username})
        credential = SoftAuthenticator().create(options.json(), origin=ORIGIN)
        assert (await client.post("/v1/registration/verify", json=credential)).status_code == 201
        assert await cli._create_admin(api.settings, username) == 0
        return cls(client)

    async def set_disabled(self, user_id: str, disabled: bool) -> None:
        response = await self.client.patch(
            f"/v1/admin/users/{user_id}", json={"disabled": disabled}
        )
        assert response.status_code == 200, response.text
        assert response.json()["disabled"] is disabled

    async def sessions_of(self, user_id: str) -> int:
        response = await self.client.get(f"/v1/admin/users/{user_id}")
        assert response.status_code == 200, response.text
        return int(response.json()["sessions"])


def right_after(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    then: Callable[[], Awaitable[None]],
) -> list[bool]:
    """Wrap `module.<name>`, the sign-in's read of the user: the first call reads, then
    `then()` runs to its end (the disable, committed), then the sign-in goes on with what
    it read. Returns a list that holds True once that happened."""
    original = getattr(module, name)
    fired: list[bool] = []

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        if not fired:
            fired.append(True)  # first: the admin's own request may read users too
            await then()
        return result

    monkeypatch.setattr(module, name, wrapped)
    return fired


async def assert_dead(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/session")
    assert (response.status_code, problem_code(response)) == (401, "not_authenticated")


async def test_a_passkey_sign_in_racing_the_disable_makes_a_session_that_never_works(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await Admin.of(api)
    laptop = SoftAuthenticator()
    user_id = (await api.sign_up(laptop)).json()["user"]["id"]
    assert (await api.client.delete("/v1/session")).status_code == 204

    # The credential lookup (PostgreSQL: through the pool; SQLite: in autocommit), then
    # the one write (ceremonies/repository.py record_sign_in).
    fired = right_after(
        monkeypatch,
        passkeys_repository,
        "get_with_user",
        lambda: admin.set_disabled(user_id, True),
    )
    signed_in = await api.sign_in(laptop)
    assert fired
    monkeypatch.undo()
    assert signed_in.status_code == 200, signed_in.text  # it read the account enabled

    await assert_dead(api.client)
    await admin.set_disabled(user_id, False)
    await assert_dead(api.client)
    assert await admin.sessions_of(user_id) == 0  # not counted, not listed
    # Enabled again, the account signs in as before.
    assert (await api.sign_in(laptop)).status_code == 200
    assert (await api.client.get("/v1/session")).status_code == 200
    listed = (await api.client.get("/v1/me/sessions")).json()["sessions"]
    assert [s["current"] for s in listed] == [True]


async def test_a_recovery_racing_the_disable_makes_a_session_that_never_works(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await Admin.of(api)
    username, _, codes = await user_with_codes(api)
    user_id = (await api.client.get("/v1/me")).json()["id"]
    async with device(api) as phone:
        fired = right_after(
            monkeypatch,
            users_repository,
            "get_by_username_key",
            lambda: admin.set_disabled(user_id, True),
        )
        recovered = await recover(phone, username, codes[0])
        assert fired
        monkeypatch.undo()
        assert recovered.status_code == 200, recovered.text

        await assert_dead(phone)
        await admin.set_disabled(user_id, False)
        await assert_dead(phone)
        assert await admin.sessions_of(user_id) == 0
        # Enabled again, the next code recovers as before.
        assert (await recover(phone, username, codes[1])).status_code == 200
        assert (await phone.get("/v1/session")).status_code == 200


async def test_a_sign_in_racing_a_forced_sign_out_makes_a_session_that_never_works(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin's "sign out everywhere" ends every session of the account in the same way."""
    admin = await Admin.of(api)
    laptop = SoftAuthenticator()
    user_id = (await api.sign_up(laptop)).json()["user"]["id"]
    assert (await api.client.delete("/v1/session")).status_code == 204

    async def sign_out_everywhere() -> None:
        response = await admin.client.delete(f"/v1/admin/users/{user_id}/sessions")
        assert response.status_code == 200, response.text

    fired = right_after(monkeypatch, passkeys_repository, "get_with_user", sign_out_everywhere)
    signed_in = await api.sign_in(laptop)
    assert fired
    monkeypatch.undo()
    assert signed_in.status_code == 200, signed_in.text
    await assert_dead(api.client)
    assert await admin.sessions_of(user_id) == 0
    assert (await api.sign_in(laptop)).status_code == 200
    assert (await api.client.get("/v1/session")).status_code == 200
