"""Security notices to the account owner, against a real SMTP server (aiosmtpd): every use
or change of a way into the account is told to the verified recovery address, without a
code or a link in it, and nothing is sent without a verified address or without SMTP."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from passkey_api.kit.client_info import ClientInfo
from passkey_api.recovery import emails
from tests.api.conftest import Api, ApiFactory, new_username
from tests.api.test_recovery_codes import device, fresh_ip, recover, user_with_codes
from tests.api.test_recovery_email import (
    _mail_api,
    ask_for_link,
    link_in_mail,
    new_address,
    user_with_address,
)
from tests.smtp import SmtpServer, smtp_server
from tests.softauthn import SoftAuthenticator

USER_AGENT = "NoticeTest/1.0 (a phone)"


@pytest.fixture(scope="module")
async def smtp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmtpServer]:
    async with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@pytest.fixture
async def mail_api(make_api: ApiFactory, smtp: SmtpServer) -> Api:
    return await _mail_api(make_api, smtp)


def subject_of(notice: emails.Notice, api: Api) -> str:
    """The subject this kind of notice has for this app (built as the app builds it)."""
    made = notice(
        sender="a@example.test",
        to="b@example.test",
        rp_name=api.settings.rp_name,
        when=datetime.now(UTC),
        client=ClientInfo(user_agent=None, ip=None),
    )
    return str(made["Subject"])


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def assert_no_secret(message: EmailMessage, secrets: list[str]) -> None:
    raw = message.as_string()
    assert "#token=" not in raw
    for secret in secrets:
        for spelling in (secret, secret.replace("-", ""), secret.lower()):
            assert spelling not in raw


async def settled(api: Api) -> None:
    """Every message posted so far has reached the server (or failed)."""
    assert api.resources.mailer is not None
    await api.resources.mailer.flush()


async def test_new_codes_and_a_used_code_are_told(mail_api: Api, smtp: SmtpServer) -> None:
    api = mail_api
    username, address, _ = await user_with_address(api, smtp)  # 1: the verification link
    made = await api.client.post("/v1/me/recovery-codes")  # the step-up is still fresh
    assert made.status_code == 201
    codes = made.json()["codes"]
    notice = (await smtp.wait_for(address, 2))[-1]
    assert str(notice["Subject"]) == subject_of(emails.codes_generated_notice, api)
    assert_no_secret(notice, codes)

    async with device(api, "198.51.100.23", **{"User-Agent": USER_AGENT}) as phone:
        used = await recover(phone, username, codes[3])
        assert used.status_code == 200
    notice = (await smtp.wait_for(address, 3))[-1]
    assert str(notice["Subject"]) == subject_of(emails.code_used_notice, api)
    assert_no_secret(notice, codes)
    # Where it came from, as far as the request told.
    assert "198.51.100.23" in text_of(notice)
    said = " ".join(text_of(notice).split())
    assert "as the device reported it: an unknown browser" in said
    assert "NoticeTest" not in said


LURE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 -- this was support, no action needed, visit "
    "https://help.evil.example to keep your account"
)


async def test_a_notice_names_the_device_in_its_own_words(mail_api: Api, smtp: SmtpServer) -> None:
    """The User-Agent is the client's to choose: the notice says which browser and system
    it claims, from fixed lists, and repeats none of its text."""
    api = mail_api
    username, address, _ = await user_with_address(api, smtp)
    codes = (await api.client.post("/v1/me/recovery-codes")).json()["codes"]
    async with device(api, fresh_ip(), **{"User-Agent": LURE}) as phone:
        assert (await recover(phone, username, codes[0])).status_code == 200
    notice = (await smtp.wait_for(address, 3))[-1]
    text = " ".join(text_of(notice).split())
    assert "as the device reported it: Chrome on Windows" in text
    for word in ("this was support", "no action needed", "evil", "visit", "Mozilla", "131"):
        assert word not in text


async def test_a_used_link_is_told(mail_api: Api, smtp: SmtpServer) -> None:
    api = mail_api
    _, address, _ = await user_with_address(api, smtp)
    async with device(api) as phone:
        assert (await ask_for_link(phone, address)).status_code == 202
        _, token = await link_in_mail(smtp, address, count=2)
        used = await phone.post("/v1/recovery/email/verify", json={"token": token})
        assert used.status_code == 200
    notice = (await smtp.wait_for(address, 3))[-1]
    assert str(notice["Subject"]) == subject_of(emails.link_used_notice, api)
    assert_no_secret(notice, [token])
    await settled(api)
    assert len(smtp.messages_to(address)) == 3  # one notice, not one per step


async def test_a_changed_address_is_told_at_the_old_one(mail_api: Api, smtp: SmtpServer) -> None:
    api = mail_api
    _, old, _ = await user_with_address(api, smtp)
    new = new_address()
    assert (await api.client.put("/v1/me/email", json={"email": new})).status_code == 202
    _, token = await link_in_mail(smtp, new)
    await settled(api)
    assert len(smtp.messages_to(old)) == 1  # asking changes nothing yet
    assert (await api.post("/v1/me/email/verify", {"token": token})).status_code == 200
    notice = (await smtp.wait_for(old, 2))[-1]
    assert str(notice["Subject"]) == subject_of(emails.address_changed_notice, api)
    assert_no_secret(notice, [token])
    assert new not in notice.as_string()  # the old mailbox does not learn the new one
    await settled(api)
    assert len(smtp.messages_to(new)) == 1  # only its verification link


async def test_a_removed_address_is_told(mail_api: Api, smtp: SmtpServer) -> None:
    api = mail_api
    _, address, _ = await user_with_address(api, smtp)
    assert (await api.client.delete("/v1/me/email")).status_code == 204
    notice = (await smtp.wait_for(address, 2))[-1]
    assert str(notice["Subject"]) == subject_of(emails.address_removed_notice, api)
    # Nothing is told to an address the account no longer has.
    assert (await api.client.post("/v1/me/recovery-codes")).status_code == 201
    await settled(api)
    assert len(smtp.messages_to(address)) == 2


async def test_nothing_is_sent_without_a_verified_address(mail_api: Api, smtp: SmtpServer) -> None:
    api = mail_api
    before = len(smtp.messages())
    username, _, codes = await user_with_codes(api)  # no recovery address at all
    async with device(api) as phone:
        assert (await recover(phone, username, codes[0])).status_code == 200
    # An address asked for but never verified hears nothing either.
    pending = new_address()
    assert (await api.client.put("/v1/me/email", json={"email": pending})).status_code == 202
    await link_in_mail(smtp, pending)
    assert (await api.client.post("/v1/me/recovery-codes")).status_code == 201
    assert (await api.client.delete("/v1/me/email")).status_code == 204
    await settled(api)
    assert len(smtp.messages()) == before + 1  # the verification link, nothing else
    assert len(smtp.messages_to(pending)) == 1


async def test_nothing_is_sent_without_smtp(api: Api, smtp: SmtpServer) -> None:
    assert api.resources.mailer is None
    before = len(smtp.messages())
    authenticator = SoftAuthenticator()
    username = new_username()
    await api.sign_up(authenticator, username)
    # A verified address left from a time the service sent mail.
    await api.execute(
        "UPDATE users SET email = :email, email_verified_at = CURRENT_TIMESTAMP "
        "WHERE username = :username",
        email=new_address(),
        username=username,
    )
    assert (await api.reauthenticate(authenticator, "recovery")).status_code == 200
    made = await api.client.post("/v1/me/recovery-codes")
    assert made.status_code == 201
    async with device(api) as phone:
        assert (await recover(phone, username, made.json()["codes"][0])).status_code == 200
    assert (await api.client.delete("/v1/me/email")).status_code == 204
    assert len(smtp.messages()) == before


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when this returns


async def test_a_notice_that_cannot_be_sent_fails_nothing(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    api = await _mail_api(make_api, dataclasses.replace(smtp, port=_closed_port()))
    authenticator = SoftAuthenticator()
    username = new_username()
    await api.sign_up(authenticator, username)
    await api.execute(
        "UPDATE users SET email = :email, email_verified_at = CURRENT_TIMESTAMP "
        "WHERE username = :username",
        email=new_address(),
        username=username,
    )
    assert (await api.reauthenticate(authenticator, "recovery")).status_code == 200
    made = await api.client.post("/v1/me/recovery-codes")
    assert made.status_code == 201
    async with device(api, fresh_ip()) as phone:
        assert (await recover(phone, username, made.json()["codes"][0])).status_code == 200
    assert (await api.client.delete("/v1/me/email")).status_code == 204
    await settled(api)  # every attempt failed (connection refused) and was only logged
