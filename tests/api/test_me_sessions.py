"""/v1/me/sessions: list, revoke one, sign out everywhere else."""

from __future__ import annotations

import httpx

from tests.api.conftest import Api, problem_code
from tests.softauthn import SoftAuthenticator


def _device(api: Api, user_agent: str) -> httpx.AsyncClient:
    """Another browser of the same user: its own cookie jar."""
    return httpx.AsyncClient(
        transport=api.client._transport,
        base_url=str(api.client.base_url),
        headers={"User-Agent": user_agent, "Origin": str(api.client.base_url).rstrip("/")},
    )


async def test_list_and_revoke_another_device(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    phone = _device(api, "Phone/1.0")
    options = (await phone.post("/v1/authentication/options", json={})).json()
    from tests.api.conftest import ORIGIN

    signed_in = await phone.post(
        "/v1/authentication/verify", json=laptop.get(options, origin=ORIGIN)
    )
    assert signed_in.status_code == 200
    phone_session = signed_in.json()["session"]["id"]

    listing = (await api.client.get("/v1/me/sessions")).json()["sessions"]
    assert len(listing) == 2
    assert {s["current"] for s in listing} == {True, False}
    other = next(s for s in listing if not s["current"])
    assert other["id"] == phone_session
    assert other["user_agent"] == "Phone/1.0"
    assert other["ip"] == "203.0.113.7"
    for item in listing:
        assert set(item) == {
            "id",
            "created_at",
            "last_seen_at",
            "expires_at",
            "user_agent",
            "ip",
            "user_verified",
            "scope",
            "method",
            "current",
        }

    await api.age_sign_in()  # past the sign-ins' own step-ups
    denied = await api.client.delete(f"/v1/me/sessions/{phone_session}")
    assert (denied.status_code, problem_code(denied)) == (403, "reauthentication_required")
    assert (await api.reauthenticate(laptop, "sessions")).status_code == 200
    assert (await api.client.delete(f"/v1/me/sessions/{phone_session}")).status_code == 204
    # Effective on the phone's very next request.
    assert (await phone.get("/v1/session")).status_code == 401
    assert (await api.client.get("/v1/session")).status_code == 200
    await phone.aclose()


async def test_sign_out_everywhere_else(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    devices = [_device(api, f"Device/{n}") for n in range(3)]
    from tests.api.conftest import ORIGIN

    for device in devices:
        options = (await device.post("/v1/authentication/options", json={})).json()
        verify = await device.post(
            "/v1/authentication/verify", json=laptop.get(options, origin=ORIGIN)
        )
        assert verify.status_code == 200
    assert (await api.reauthenticate(laptop, "sessions")).status_code == 200
    response = await api.client.delete("/v1/me/sessions")
    assert response.status_code == 200
    assert response.json() == {"revoked": 3}
    for device in devices:
        assert (await device.get("/v1/session")).status_code == 401
        await device.aclose()
    assert (await api.client.get("/v1/session")).status_code == 200


async def test_another_users_session_is_not_found(api: Api) -> None:
    mallory = SoftAuthenticator()
    mallory_session = (await api.sign_up(mallory)).json()["session"]["id"]
    api.client.cookies.clear()
    alice = SoftAuthenticator()
    await api.sign_up(alice)
    assert (await api.reauthenticate(alice, "sessions")).status_code == 200
    for target in (mallory_session, "00000000-0000-0000-0000-000000000000"):
        response = await api.client.delete(f"/v1/me/sessions/{target}")
        assert (response.status_code, problem_code(response)) == (404, "not_found")
    assert await api.scalar("SELECT count(*) FROM sessions") == 2


async def test_revoking_the_current_session_signs_out(api: Api) -> None:
    laptop = SoftAuthenticator()
    current = (await api.sign_up(laptop)).json()["session"]["id"]
    assert (await api.reauthenticate(laptop, "sessions")).status_code == 200
    response = await api.client.delete(f"/v1/me/sessions/{current}")
    assert response.status_code == 204
    assert "set-cookie" in response.headers
    assert (await api.client.get("/v1/session")).status_code == 401
