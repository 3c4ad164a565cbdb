"""Limits that rotating addresses cannot escape: clients counted per IPv6 /64 (IPv4 per
address) as a trusted proxy names them, the signed-out session check counted apart from
the ceremonies, a flood that cannot evict ceremonies in progress, and a ceiling of failed
recovery attempts per account whatever the address or replica."""

from __future__ import annotations

import functools
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from passkey_api.recovery import emails
from passkey_api.storage.challenges import MemoryChallengeStore
from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username, problem_code
from tests.api.test_recovery_codes import device, fresh_ip, recover
from tests.api.test_recovery_email import _mail_api, ask_for_link, link_in_mail, user_with_address
from tests.api.test_recovery_notices import subject_of, text_of
from tests.smtp import SmtpServer, smtp_server
from tests.softauthn import SoftAuthenticator

PROXIES = ["203.0.113.0/24"]  # the test client's own address (conftest) is the proxy
WRONG = "AAAA-AAAA-AAAA"


@pytest.fixture(scope="module")
async def smtp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmtpServer]:
    async with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


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


# --- the ceiling of failed recovery attempts per account ------------------------------------


async def _codes(api: Api) -> list[str]:
    made = await api.client.post("/v1/me/recovery-codes")  # the step-up is still fresh
    assert made.status_code == 201, made.text
    return list(made.json()["codes"])


async def _events(api: Api, name: str) -> list[dict[str, Any]]:
    page = (await api.client.get("/v1/me/activity", params={"limit": 100})).json()
    return [e for e in page["events"] if e["event"] == name]


def _stable(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("instance", None)
    return body


async def test_failed_recoveries_pause_the_account_whatever_the_address_or_replica(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    limits: dict[str, Any] = {
        "rate_limits": True,
        "trusted_proxies": PROXIES,
        "recovery_max_failures": 4,
    }
    api = await _mail_api(make_api, smtp, **limits)
    replica = await _mail_api(make_api, smtp, **limits)
    username, address, _ = await user_with_address(api, smtp)
    codes = await _codes(api)
    before = len(await smtp.wait_for(address, 2))  # the verification link, the codes notice

    # Two wrong codes and a stale link (its address no longer the account's when followed),
    # each from another /64 and alternately on two replicas.
    for n in range(2):
        answer = await recover(
            (api, replica)[n % 2].client, username, WRONG, headers=via(f"{new_64()}::1")
        )
        assert problem_code(answer) == "recovery_failed"
    assert (await ask_for_link(replica.client, address)).status_code == 202
    _, token = await link_in_mail(smtp, address, before + 1)
    await api.execute(
        "UPDATE users SET email = 'elsewhere@example.test' WHERE email = :a", a=address
    )
    # (Followed where it was sent from: without Redis, links live in one process.)
    stale = await replica.post(
        "/v1/recovery/email/verify", {"token": token}, headers=via("192.0.2.9")
    )
    assert problem_code(stale) == "recovery_link_invalid"
    await api.execute(
        "UPDATE users SET email = :a WHERE email = 'elsewhere@example.test'", a=address
    )
    assert await api.scalar("SELECT recovery_failures FROM users WHERE email = :a", a=address) == 3
    wrong = await recover(replica.client, username, WRONG, headers=via(f"{new_64()}::2"))
    assert problem_code(wrong) == "recovery_failed"  # the fourth: the ceiling

    # Codes paused: a right one is refused exactly as a wrong one, and is not used up.
    right = await recover(api.client, username, codes[0], headers=via(f"{new_64()}::3"))
    assert (right.status_code, _stable(right)) == (wrong.status_code, _stable(wrong))
    assert (await api.client.get("/v1/me/recovery-codes")).json()["remaining"] == 10
    assert len(await _events(api, "recovery_paused")) == 1
    # The owner is told once, without a code or link.
    notices = await smtp.wait_for(address, before + 2)
    notice = functools.partial(emails.recovery_paused_notice, pause=api.settings.recovery_pause)
    assert str(notices[-1]["Subject"]) == subject_of(notice, api)
    assert "sign in with your passkey" in " ".join(text_of(notices[-1]).split())
    # Links still go out while codes are paused (the owner's way back in).
    assert (await ask_for_link(api.client, address)).status_code == 202
    await link_in_mail(smtp, address, before + 3)


async def test_a_passkey_sign_in_is_never_paused_and_lifts_the_pause(
    make_api: ApiFactory,
) -> None:
    api = await make_api(recovery_max_failures=2)
    username, authenticator = new_username(), SoftAuthenticator()
    assert (await api.sign_up(authenticator, username)).status_code == 201
    codes = await _codes(api)
    for _ in range(3):  # the third is refused while paused
        assert problem_code(await recover(api.client, username, WRONG)) == "recovery_failed"
    assert problem_code(await recover(api.client, username, codes[0])) == "recovery_failed"
    async with device(api) as phone:
        # Failed sign-ins lock nothing either.
        for _ in range(3):
            options = (await phone.post("/v1/authentication/options", json={})).json()
            bad = authenticator.get(options, origin=ORIGIN)
            bad["response"]["signature"] = bad["response"]["signature"][::-1]
            refused = await phone.post("/v1/authentication/verify", json=bad)
            assert refused.status_code in (400, 422), refused.text
        options = (await phone.post("/v1/authentication/options", json={})).json()
        signed_in = await phone.post(
            "/v1/authentication/verify", json=authenticator.get(options, origin=ORIGIN)
        )
        assert signed_in.status_code == 200, signed_in.text
    # The owner signed in: recovery works again, and the count starts over.
    async with device(api) as lost:
        assert (await recover(lost, username, codes[1])).status_code == 200
    assert await api.scalar("SELECT recovery_failures FROM users") == 0


async def test_the_pause_ends_after_its_time(make_api: ApiFactory) -> None:
    api = await make_api(recovery_max_failures=2, recovery_pause=timedelta(hours=1))
    username = new_username()
    assert (await api.sign_up(SoftAuthenticator(), username)).status_code == 201
    codes = await _codes(api)
    for _ in range(2):
        assert problem_code(await recover(api.client, username, WRONG)) == "recovery_failed"
    assert problem_code(await recover(api.client, username, codes[0])) == "recovery_failed"
    # Not yet over...
    almost = datetime.now(UTC) - timedelta(minutes=59)
    await api.execute("UPDATE users SET recovery_failures_since = :t", t=almost)
    assert problem_code(await recover(api.client, username, codes[0])) == "recovery_failed"
    # ...and over.
    over = datetime.now(UTC) - timedelta(hours=1, seconds=1)
    await api.execute("UPDATE users SET recovery_failures_since = :t", t=over)
    async with device(api) as lost:
        assert (await recover(lost, username, codes[0])).status_code == 200


async def test_a_pause_stops_codes_only_and_links_still_recover(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    """Cheap failed codes must not shut the owner out: links are 256-bit and mailed to the
    verified address, so a pause stops codes only; a link is still sent and still opens the
    account (and its use starts the count over)."""
    api = await _mail_api(make_api, smtp, recovery_max_failures=2)
    username, address, _ = await user_with_address(api, smtp)
    codes = await _codes(api)
    before = len(await smtp.wait_for(address, 2))  # the verification link, the codes notice
    async with device(api, fresh_ip()) as stranger:
        for _ in range(2):
            assert problem_code(await recover(stranger, username, "x")) == "recovery_failed"
    notices = await smtp.wait_for(address, before + 1)  # the pause notice
    told = " ".join(text_of(notices[-1]).split())
    assert "recovery link" in told
    assert "codes" in told
    async with device(api, fresh_ip()) as lost:
        # Codes are paused...
        assert problem_code(await recover(lost, username, codes[0])) == "recovery_failed"
        # ...links are not: one is sent, and it opens the account.
        assert (await ask_for_link(lost, address)).status_code == 202
        _, token = await link_in_mail(smtp, address, before + 2)
        opened = await lost.post("/v1/recovery/email/verify", json={"token": token})
        assert opened.status_code == 200, opened.text
    assert await api.scalar("SELECT recovery_failures FROM users WHERE email = :a", a=address) == 0
