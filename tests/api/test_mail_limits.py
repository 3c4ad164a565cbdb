"""Mail cannot be used to flood anyone, against a real SMTP server (aiosmtpd): every
request that mails an address counts per recipient address, per account and per client
IP, and the outbox is bounded (a full one answers 503, it never drops a message)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, ApiFactory, new_username, problem_code
from tests.api.test_recovery_codes import device, fresh_ip, recover
from tests.api.test_recovery_email import (
    _mail_api,
    _reauthenticate,
    _sign_up,
    ask_for_link,
    new_address,
)
from tests.smtp import SmtpServer, smtp_server
from tests.softauthn import SoftAuthenticator


@pytest.fixture(scope="module")
async def smtp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmtpServer]:
    async with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


async def limited(make_api: ApiFactory, smtp: SmtpServer, **overrides: Any) -> Api:
    """Rate limits on, generous except where a test says otherwise (Redis counters outlive
    a test: every client here has a fresh IP, every address is new)."""
    values: dict[str, Any] = {
        "rate_limits": True,
        "rate_limit_mail_ip": "1000/hour",
        "rate_limit_mail_account": "1000/hour",
        "rate_limit_mail_address": "1000/hour",
    }
    return await _mail_api(make_api, smtp, **(values | overrides))


async def mailer(api: Api, ip: str | None = None) -> httpx.AsyncClient:
    """A signed-up account, stepped up for its recovery settings, on its own client."""
    client = device(api, ip or fresh_ip())
    authenticator = SoftAuthenticator()
    await _sign_up(client, authenticator)
    await _reauthenticate(client, authenticator, "recovery")
    return client


async def set_address(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await client.put("/v1/me/email", json={"email": address})


def refused(response: httpx.Response) -> bool:
    if response.status_code != 429:
        assert response.status_code == 202, response.text
        return False
    assert problem_code(response) == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    return True


async def settled(api: Api) -> None:
    assert api.resources.mailer is not None
    await api.resources.mailer.flush()


async def test_one_account_cannot_flood_a_mailbox(make_api: ApiFactory, smtp: SmtpServer) -> None:
    """The report: one free account, one step-up, 30 verification mails to a victim.
    With the default limits, a handful arrive."""
    api = await _mail_api(make_api, smtp, rate_limits=True)
    victim = new_address()
    client = await mailer(api)
    answers = [await set_address(client, victim) for _ in range(30)]
    await settled(api)
    sent = sum(not refused(answer) for answer in answers)
    assert sent == int(api.settings.rate_limit_mail_address.split("/")[0])
    assert len(smtp.messages_to(victim)) == sent
    await client.aclose()


async def test_an_address_gets_a_bounded_number_of_mails_whoever_asks(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    api = await limited(make_api, smtp, rate_limit_mail_address="3/hour")
    victim = new_address()
    first, second = await mailer(api), await mailer(api)
    # Two accounts from two IPs, and recovery links asked for from a third: one count.
    assert not refused(await set_address(first, victim))
    assert not refused(await set_address(second, victim))
    async with device(api, fresh_ip()) as third:
        assert not refused(await ask_for_link(third, victim))
        assert refused(await ask_for_link(third, victim))
    assert refused(await set_address(first, victim))
    # Other addresses are their own count.
    assert not refused(await set_address(first, new_address()))
    await settled(api)
    assert len(smtp.messages_to(victim)) == 2  # two verification links; no account, no link
    for client in (first, second):
        await client.aclose()


async def test_an_account_sends_a_bounded_number_of_mails(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    api = await limited(make_api, smtp, rate_limit_mail_account="3/hour")
    client = await mailer(api)
    answers = [await set_address(client, new_address()) for _ in range(5)]
    assert [refused(answer) for answer in answers] == [False] * 3 + [True] * 2
    # Another account is its own count.
    other = await mailer(api)
    assert not refused(await set_address(other, new_address()))
    for each in (client, other):
        await each.aclose()


async def test_an_ip_sends_a_bounded_number_of_mails(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    api = await limited(make_api, smtp, rate_limit_mail_ip="3/hour")
    ip = fresh_ip()
    first, second = await mailer(api, ip), await mailer(api, ip)
    assert not refused(await set_address(first, new_address()))
    assert not refused(await set_address(second, new_address()))
    assert not refused(await ask_for_link(first, new_address()))
    assert refused(await set_address(second, new_address()))
    assert refused(await ask_for_link(second, new_address()))
    async with device(api, fresh_ip()) as elsewhere:
        assert not refused(await ask_for_link(elsewhere, new_address()))
    for client in (first, second):
        await client.aclose()


@pytest.fixture
def silent_smtp() -> Iterator[SmtpServer]:
    """An SMTP port that accepts connections and never says a word: every send waits out
    the SMTP timeout, so the outbox fills."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield SmtpServer("127.0.0.1", int(listener.getsockname()[1]), maildir=None)  # type: ignore[arg-type]


async def test_a_full_outbox_answers_503_and_drops_nothing(
    make_api: ApiFactory, silent_smtp: SmtpServer, smtp: SmtpServer
) -> None:
    api = await _mail_api(
        make_api, silent_smtp, mail_queue_size=2, smtp_timeout=timedelta(seconds=2)
    )
    client = await mailer(api)
    assert (await set_address(client, new_address())).status_code == 202
    assert (await set_address(client, new_address())).status_code == 202
    # Full: refused before anything is written, known address or not.
    events_before = await api.scalar("SELECT count(*) FROM audit_events")
    full = await set_address(client, new_address())
    assert (full.status_code, problem_code(full)) == (503, "mail_queue_full")
    assert int(full.headers["Retry-After"]) > 0
    async with device(api, fresh_ip()) as other:
        for address in (new_address(), new_address()):
            asked = await ask_for_link(other, address)
            assert (asked.status_code, problem_code(asked)) == (503, "mail_queue_full")
    assert await api.scalar("SELECT count(*) FROM audit_events") == events_before
    await settled(api)  # both sends gave up: room again
    assert api.resources.mailer is not None
    assert api.resources.mailer.held == 0  # no place was kept by a refused request
    assert (await set_address(client, new_address())).status_code == 202
    await client.aclose()


async def test_a_full_outbox_refuses_what_would_send_a_notice(
    make_api: ApiFactory, silent_smtp: SmtpServer
) -> None:
    """A notice is never dropped: what would send one waits for room, like a link."""
    api = await _mail_api(
        make_api, silent_smtp, mail_queue_size=1, smtp_timeout=timedelta(seconds=2)
    )
    client = await mailer(api)
    await api.execute(
        "UPDATE users SET email = :email, email_verified_at = CURRENT_TIMESTAMP",
        email=new_address(),
    )
    made = await client.post("/v1/me/recovery-codes")
    assert made.status_code == 201  # its notice fills the outbox
    again = await client.post("/v1/me/recovery-codes")
    assert (again.status_code, problem_code(again)) == (503, "mail_queue_full")
    # The first set still stands: nothing of the refused request was written.
    status = (await client.get("/v1/me/recovery-codes")).json()
    assert status["generated_at"] == made.json()["generated_at"]
    await settled(api)
    assert (await client.post("/v1/me/recovery-codes")).status_code == 201
    await client.aclose()


async def test_a_full_outbox_refuses_a_recovery_code_before_it_counts(
    make_api: ApiFactory, silent_smtp: SmtpServer
) -> None:
    """The place for the code-used (or pause) notice is taken before the attempt is counted
    against the account's ceiling: a 503 neither uses up a code nor counts a failure."""
    api = await _mail_api(
        make_api,
        silent_smtp,
        mail_queue_size=1,
        smtp_timeout=timedelta(seconds=2),
        recovery_max_failures=1,
    )
    authenticator = SoftAuthenticator()
    username = new_username()
    assert (await api.sign_up(authenticator, username)).status_code == 201
    assert (await api.reauthenticate(authenticator, "recovery")).status_code == 200
    await api.execute(
        "UPDATE users SET email = :email, email_verified_at = CURRENT_TIMESTAMP"
        " WHERE username = :name",
        email=new_address(),
        name=username,
    )
    made = await api.client.post("/v1/me/recovery-codes")
    assert made.status_code == 201  # its notice fills the outbox
    code = made.json()["codes"][0]
    async with device(api, fresh_ip()) as lost:
        full = await recover(lost, username, code)
        assert (full.status_code, problem_code(full)) == (503, "mail_queue_full")
        failures = "SELECT recovery_failures FROM users WHERE username = :name"
        assert await api.scalar(failures, name=username) == 0
        await settled(api)
        recovered = await recover(lost, username, code)
        assert recovered.status_code == 200, recovered.text


async def test_code_attempts_take_an_outbox_place_only_when_a_notice_is_due(
    make_api: ApiFactory, silent_smtp: SmtpServer
) -> None:
    """Attempts waiting for their hash hold no place: with the outbox full, an unknown
    username and a wrong code answer as always. A place is needed only by a code that
    matched (its notice) or the attempt that may pause codes (the pause notice): those
    answer 503 with nothing used up or counted."""
    api = await _mail_api(
        make_api,
        silent_smtp,
        mail_queue_size=1,
        smtp_timeout=timedelta(seconds=2),
        recovery_max_failures=2,
    )
    authenticator, username = SoftAuthenticator(), new_username()
    assert (await api.sign_up(authenticator, username)).status_code == 201
    await api.execute(
        "UPDATE users SET email = :email, email_verified_at = CURRENT_TIMESTAMP",
        email=new_address(),
    )
    made = await api.client.post("/v1/me/recovery-codes")
    assert made.status_code == 201  # its notice fills the outbox
    failures = "SELECT recovery_failures FROM users"
    async with device(api, fresh_ip()) as stranger:
        nobody = await recover(stranger, new_username(), "AAAA-BBBB-CCCC-DDDD")
        assert problem_code(nobody) == "recovery_failed"
        wrong = await recover(stranger, username, "AAAA-BBBB-CCCC-DDDD")
        assert problem_code(wrong) == "recovery_failed"
        assert await api.scalar(failures) == 1
        # The second would pause codes: its notice has no room, so it is not tested.
        pausing = await recover(stranger, username, "AAAA-BBBB-CCCC-DDDD")
        assert (pausing.status_code, problem_code(pausing)) == (503, "mail_queue_full")
        assert await api.scalar(failures) == 1
        # A matching code: not used up, not counted.
        right = await recover(stranger, username, made.json()["codes"][0])
        assert (right.status_code, problem_code(right)) == (503, "mail_queue_full")
        assert await api.scalar(failures) == 1
        await settled(api)
        assert (await recover(stranger, username, made.json()["codes"][0])).status_code == 200


async def test_sub_addresses_count_as_their_mailbox(make_api: ApiFactory, smtp: SmtpServer) -> None:
    """victim+tag@ lands in victim@'s mailbox: one count for all its tags."""
    api = await limited(make_api, smtp, rate_limit_mail_address="2/hour")
    local, domain = new_address().split("@")
    client = await mailer(api)
    answers = [await set_address(client, f"{local}+{n}x{n}@{domain}") for n in range(3)]
    assert [refused(a) for a in answers] == [False, False, True]
    assert refused(await set_address(client, f"{local}@{domain}"))
    await client.aclose()
