"""Limits that rotating addresses cannot escape: clients counted per IPv6 /64 (IPv4 per
address) as a trusted proxy names them, the signed-out session check counted apart from
the ceremonies, and a flood that cannot evict ceremonies in progress."""

from __future__ import annotations

import secrets

import pytest

from passkey_api.challenges import MemoryChallengeStore
from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username, problem_code
from tests.api.test_recovery_codes import device, fresh_ip, recover
from tests.softauthn import SoftAuthenticator

PROXIES = ["203.0.113.0/24"]  # the test client's own address (conftest) is the proxy
WRONG = "AAAA-AAAA-AAAA"


def new_64() -> str:
    """A /64 of the documentation prefix no other test uses (Redis counters outlive tests)."""
    return "2001:db8:" + ":".join(f"{secrets.randbelow(65536):x}" for _ in range(2))


def via(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


# --- clients as the limits count them -------------------------------------------------------


async def test_ipv6_clients_behind_a_proxy_are_counted_per_64(make_api: ApiFactory) -> None:
    api = await make_api(rate_limits=True, trusted_proxies=PROXIES, rate_limit_recovery_ip="3/hour")
    net = new_64()
    # Every try from another address of one /64, as one host with a /64 can make them.
    answers = [
        await recover(api.client, new_username(), WRONG, headers=via(f"{net}:{n:x}::{n + 1:x}"))
        for n in range(5)
    ]
    assert [problem_code(a) for a in answers] == ["recovery_failed"] * 3 + ["rate_limited"] * 2
    # The same for a bracketed address with a port, as some proxies write it.
    limited = await recover(api.client, new_username(), WRONG, headers=via(f"[{net}::9]:443"))
    assert problem_code(limited) == "rate_limited"
    # The next /64 is another client.
    other = await recover(api.client, new_username(), WRONG, headers=via(f"{new_64()}::1"))
    assert problem_code(other) == "recovery_failed"


async def test_forwarded_for_with_a_port_or_brackets_names_the_client(
    make_api: ApiFactory,
) -> None:
    api = await make_api(trusted_proxies=PROXIES)
    for entry, client in (
        ("198.51.100.4:4711", "198.51.100.4"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("[2001:db8::8]", "2001:db8::8"),
    ):
        api.client.cookies.clear()
        assert (await api.sign_up(SoftAuthenticator(), headers=via(entry))).status_code == 201
        newest = await api.scalar("SELECT ip FROM sessions ORDER BY created_at DESC LIMIT 1")
        assert newest == client, entry


async def test_signed_out_polling_does_not_spend_the_sign_in_limit(make_api: ApiFactory) -> None:
    """An app that polls /v1/session while signed out is limited there, and its users can
    still sign in: the two limits are counted apart."""
    api = await make_api(rate_limits=True, rate_limit_ip="5/minute", rate_limit_session="3/minute")
    async with device(api, fresh_ip()) as spa:
        polls = [(await spa.get("/v1/session")).status_code for _ in range(8)]
        assert polls == [401] * 3 + [429] * 5
        options = await spa.post("/v1/authentication/options", json={})
        assert options.status_code == 200, options.text


async def test_a_flood_of_options_waits_and_ceremonies_in_progress_finish(api: Api) -> None:
    store = api.resources.challenges
    if not isinstance(store, MemoryChallengeStore):
        pytest.skip("the in-process store only (Redis holds challenges with PostgreSQL)")
    authenticator, username = SoftAuthenticator(), new_username()
    assert (await api.sign_up(authenticator, username)).status_code == 201
    pending = await api.sign_in_options(username)  # a ceremony in progress
    store._max_entries = 3  # what 100,000 would be under a flood
    flood = [await api.post("/v1/authentication/options", {}) for _ in range(4)]
    assert [r.status_code for r in flood] == [200, 200, 503, 503]
    assert problem_code(flood[-1]) == "challenge_store_full"
    assert int(flood[-1].headers["Retry-After"]) >= 1
    finished = await api.post(
        "/v1/authentication/verify", authenticator.get(pending, origin=ORIGIN)
    )
    assert finished.status_code == 200, finished.text
