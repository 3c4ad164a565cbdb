"""Recovery by email, against a real SMTP server (aiosmtpd in its own process): the
address is verified by a link, a recovery link works once and for a while, and the
answer never tells whether an address is known."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from passkey_api.api.recovery import SAME_ANSWER
from passkey_api.recovery import emails
from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username, problem_code
from tests.api.test_recovery_codes import device, fresh_ip
from tests.smtp import SmtpServer, smtp_server
from tests.softauthn import SoftAuthenticator

RECOVERY_PAGE = ORIGIN + "/recover"
LINK = re.compile(r"(\S+)#token=([A-Za-z0-9_-]{43})")


@pytest.fixture(scope="module")
async def smtp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmtpServer]:
    async with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@pytest.fixture
async def mail_api(make_api: ApiFactory, smtp: SmtpServer) -> Api:
    return await _mail_api(make_api, smtp)


async def _mail_api(make_api: ApiFactory, smtp: SmtpServer, **overrides: Any) -> Api:
    return await make_api(
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_from="passkey-api <no-reply@example.test>",
        smtp_starttls=False,
        recovery_url=RECOVERY_PAGE,
        **overrides,
    )


def new_address() -> str:
    return f"{new_username()}@example.test"


async def link_in_mail(smtp: SmtpServer, address: str, count: int = 1) -> tuple[str, str]:
    """(page, token) of the newest of `count` messages to `address`."""
    message = (await smtp.wait_for(address, count))[-1]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK.search(body.get_content())
    assert found is not None, body.get_content()
    return found.group(1), found.group(2)


async def user_with_address(api: Api, smtp: SmtpServer) -> tuple[str, str, SoftAuthenticator]:
    authenticator = SoftAuthenticator()
    username = new_username()
    assert (await api.sign_up(authenticator, username)).status_code == 201
    assert (await api.reauthenticate(authenticator, "recovery")).status_code == 200
    address = new_address()
    assert (await api.client.put("/v1/me/email", json={"email": address})).status_code == 202
    _, token = await link_in_mail(smtp, address)
    verified = await api.post("/v1/me/email/verify", {"token": token})
    assert verified.status_code == 200, verified.text
    return username, address, authenticator


async def ask_for_link(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await client.post("/v1/recovery/email", json={"email": address})


async def test_without_smtp_the_routes_say_so(api: Api) -> None:
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    assert (await api.client.get("/v1/me/email")).json() == {"email": None, "verified_at": None}
    for path, body in (
        ("/v1/recovery/email", {"email": new_address()}),
        ("/v1/recovery/email/verify", {"token": "A" * 43}),
    ):
        response = await api.post(path, body)
        assert (response.status_code, problem_code(response)) == (404, "email_recovery_disabled")
    assert (await api.reauthenticate(authenticator, "recovery")).status_code == 200
    response = await api.client.put("/v1/me/email", json={"email": new_address()})
    assert (response.status_code, problem_code(response)) == (404, "email_recovery_disabled")


async def test_an_address_is_set_by_following_its_link(mail_api: Api, smtp: SmtpServer) -> None:
    api = mail_api
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    await api.age_sign_in()  # past the sign-up's own step-up
    address = new_address()
    denied = await api.client.put("/v1/me/email", json={"email": address})
    assert (denied.status_code, problem_code(denied)) == (403, "reauthentication_required")
    assert denied.json()["purpose"] == "recovery"
    assert (await api.reauthenticate(authenticator, "recovery")).status_code == 200
    sent = await api.client.put("/v1/me/email", json={"email": "  " + address.upper() + " "})
    assert sent.status_code == 202
    assert sent.json()["email"] == address  # normalised
    page, token = await link_in_mail(smtp, address)
    message = smtp.messages_to(address)[0]
    assert "no-reply@example.test" in str(message["From"])
    assert "recovery address" in str(message["Subject"])
    assert page == RECOVERY_PAGE  # no separate verification page configured
    # Not set until the link is followed.
    assert (await api.client.get("/v1/me/email")).json()["email"] is None
    verified = await api.post("/v1/me/email/verify", {"token": token})
    assert verified.status_code == 200
    assert verified.json()["email"] == address
    assert verified.json()["verified_at"] is not None
    assert (await api.client.get("/v1/me/email")).json()["email"] == address
    again = await api.post("/v1/me/email/verify", {"token": token})
    assert (again.status_code, problem_code(again)) == (400, "recovery_link_invalid")
    events = {e["event"] for e in (await api.client.get("/v1/me/activity")).json()["events"]}
    assert {"email_verification_sent", "email_verified"} <= events


async def test_a_verification_link_works_only_for_its_account(
    mail_api: Api, smtp: SmtpServer
) -> None:
    api = mail_api
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    assert (await api.reauthenticate(authenticator, "recovery")).status_code == 200
    address = new_address()
    await api.client.put("/v1/me/email", json={"email": address})
    _, token = await link_in_mail(smtp, address)
    async with device(api) as other:
        await _sign_up(other, SoftAuthenticator())
        response = await other.post("/v1/me/email/verify", json={"token": token})
        assert (response.status_code, problem_code(response)) == (400, "recovery_link_invalid")
        assert (await other.get("/v1/me/email")).json()["email"] is None


async def test_an_address_recovers_one_account(mail_api: Api, smtp: SmtpServer) -> None:
    api = mail_api
    _, address, _ = await user_with_address(api, smtp)
    async with device(api) as other:
        authenticator = SoftAuthenticator()
        await _sign_up(other, authenticator)
        await _reauthenticate(other, authenticator, "recovery")
        # Asking does not tell that the address is in use...
        assert (await other.put("/v1/me/email", json={"email": address})).status_code == 202
        _, token = await link_in_mail(smtp, address, count=2)
        # ...only proving the mailbox does.
        taken = await other.post("/v1/me/email/verify", json={"token": token})
        assert (taken.status_code, problem_code(taken)) == (409, "email_taken")


async def test_a_recovery_link_works_once(mail_api: Api, smtp: SmtpServer) -> None:
    api = mail_api
    username, address, _ = await user_with_address(api, smtp)
    original = (await api.client.get("/v1/session")).json()["session"]["id"]
    async with device(api) as phone:
        asked = await ask_for_link(phone, address.upper())
        assert (asked.status_code, asked.json()) == (202, {"detail": SAME_ANSWER})
        page, token = await link_in_mail(smtp, address, count=2)
        assert page == RECOVERY_PAGE
        message = smtp.messages_to(address)[-1]
        assert "Recover" in str(message["Subject"])
        recovered = await phone.post("/v1/recovery/email/verify", json={"token": token})
        assert recovered.status_code == 200, recovered.text
        assert recovered.json()["user"]["username"] == username
        assert recovered.json()["session"]["scope"] == "recovery"
        # The restricted session can only add a passkey...
        refused = await phone.get("/v1/me")
        assert (refused.status_code, problem_code(refused)) == (403, "recovery_session_restricted")
        options = await phone.post("/v1/me/passkeys/options", json={})
        added = await phone.post(
            "/v1/me/passkeys/verify",
            json=SoftAuthenticator().create(options.json(), origin=ORIGIN),
        )
        assert added.status_code == 201
        # ...which makes it a full session and lists the others for review.
        assert [s["id"] for s in added.json()["recovered"]["other_sessions"]] == [original]
        assert (await phone.get("/v1/me")).status_code == 200
    async with device(api) as thief:
        again = await thief.post("/v1/recovery/email/verify", json={"token": token})
        assert (again.status_code, problem_code(again)) == (400, "recovery_link_invalid")
    events = [e["event"] for e in (await api.client.get("/v1/me/activity")).json()["events"]]
    assert {"recovery_email_requested", "recovery_link_used", "recovery_completed"} <= set(events)


async def test_unknown_addresses_get_the_same_answer_and_no_mail(
    mail_api: Api, smtp: SmtpServer
) -> None:
    api = mail_api
    _, known, _ = await user_with_address(api, smtp)
    unknown = new_address()
    async with device(api) as client:
        answers = [await ask_for_link(client, address) for address in (unknown, known)]
    assert [(r.status_code, r.json()) for r in answers] == [(202, {"detail": SAME_ANSWER})] * 2
    assert answers[0].headers.keys() == answers[1].headers.keys()
    await link_in_mail(smtp, known, count=2)
    assert api.resources.mailer is not None
    await api.resources.mailer.flush()  # everything posted has been handed over
    assert smtp.messages_to(unknown) == []
    # A made-up token, or one of the right shape never issued, opens nothing.
    async with device(api) as client:
        response = await client.post("/v1/recovery/email/verify", json={"token": "B" * 43})
        assert (response.status_code, problem_code(response)) == (400, "recovery_link_invalid")
        response = await client.post("/v1/recovery/email/verify", json={"token": "short"})
        assert (response.status_code, problem_code(response)) == (422, "validation_error")


async def test_the_recovery_mail_is_made_after_the_answer(
    mail_api: Api, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Known address or not, the answer comes before any message is built or queued, so
    its time cannot tell them apart."""
    api = mail_api
    _, known, _ = await user_with_address(api, smtp)
    events: list[str] = []
    build = emails.recovery_message

    def watched_build(**parts: Any) -> EmailMessage:
        events.append("built")
        return build(**parts)

    monkeypatch.setattr(emails, "recovery_message", watched_build)
    transport = api.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    inner = transport.app

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def watched_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                events.append("answered")

        await inner(scope, receive, watched_send)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"Origin": ORIGIN}
    ) as client:
        for address, expected in ((new_address(), ["answered"]), (known, ["answered", "built"])):
            events.clear()
            assert (await ask_for_link(client, address)).status_code == 202
            assert events == expected, address
    await link_in_mail(smtp, known, count=2)
    assert api.resources.mailer is not None
    await api.resources.mailer.flush()
    assert api.resources.mailer.held == 0  # the unknown address's place was given back


async def test_a_recovery_link_expires(make_api: ApiFactory, smtp: SmtpServer) -> None:
    api = await _mail_api(make_api, smtp, recovery_link_lifetime=timedelta(seconds=1))
    _, address, _ = await user_with_address(api, smtp)  # a lifetime long enough for this
    async with device(api) as phone:
        assert (await ask_for_link(phone, address)).status_code == 202
        _, token = await link_in_mail(smtp, address, count=2)
        await asyncio.sleep(1.2)  # past the (shortened) lifetime
        response = await phone.post("/v1/recovery/email/verify", json={"token": token})
        assert (response.status_code, problem_code(response)) == (400, "recovery_link_invalid")


async def test_a_link_for_an_address_since_removed_is_void(mail_api: Api, smtp: SmtpServer) -> None:
    api = mail_api
    _, address, _ = await user_with_address(api, smtp)
    async with device(api) as phone:
        await ask_for_link(phone, address)
        _, token = await link_in_mail(smtp, address, count=2)
        assert (await api.client.delete("/v1/me/email")).status_code == 204  # step-up fresh
        response = await phone.post("/v1/recovery/email/verify", json={"token": token})
        assert (response.status_code, problem_code(response)) == (400, "recovery_link_invalid")


async def test_asking_for_links_is_rate_limited_per_address(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    api = await _mail_api(make_api, smtp, rate_limits=True, rate_limit_recovery_account="2/hour")
    _, address, _ = await user_with_address(api, smtp)
    statuses = []
    for _ in range(3):  # from three addresses: the mailbox is what is protected
        async with device(api, fresh_ip()) as client:
            statuses.append((await ask_for_link(client, address)).status_code)
    assert statuses == [202, 202, 429]
    await link_in_mail(smtp, address, count=3)  # the verification and two links
    assert api.resources.mailer is not None
    await api.resources.mailer.flush()
    assert len(smtp.messages_to(address)) == 3


async def test_bad_addresses_are_refused(mail_api: Api) -> None:
    for address in ("nobody", "a@b", "a b@example.test", "é@example.test", "x" * 250 + "@a.bc"):
        response = await mail_api.post("/v1/recovery/email", {"email": address})
        assert (response.status_code, problem_code(response)) == (422, "invalid_email"), address


async def _sign_up(client: httpx.AsyncClient, authenticator: SoftAuthenticator) -> None:
    options = await client.post("/v1/registration/options", json={"username": new_username()})
    created = authenticator.create(options.json(), origin=ORIGIN)
    assert (await client.post("/v1/registration/verify", json=created)).status_code == 201


async def _reauthenticate(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, purpose: str
) -> None:
    options = await client.post("/v1/session/reauthenticate/options", json={"purpose": purpose})
    asserted = authenticator.get(options.json(), origin=ORIGIN)
    assert (
        await client.post("/v1/session/reauthenticate/verify", json=asserted)
    ).status_code == 200
