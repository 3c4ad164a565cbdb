"""Outgoing mail over SMTP (the stdlib client, in a thread), sent in the background.

Requests only hand a message over (`post`) and answer at once: how long an SMTP server
takes must not tell a caller whether a message was sent at all (whether an address
belongs to an account). The lifespan owns the Mailer and waits for what is in flight
when the app stops.

The outbox is bounded (PASSKEY_MAIL_QUEUE_SIZE): a unit of work that may send a message
takes its place first (`reserve`), before it changes anything, and a full outbox refuses
the request (503 `mail_queue_full`, Retry-After). A message is therefore never dropped for
want of room, and a flood can only fill the queue as far as the rate limits let it
(throttle.limit_mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from passkey_api.config import Settings
from passkey_api.errors import MailQueueFull

log = logging.getLogger(__name__)

# At most this many SMTP conversations at once; more wait their turn.
CONCURRENT_SENDS = 4


class Place(Protocol):
    """One place in the outbox, held from before the work until its message is posted or
    the place is given back (`release` is a no-op once posted, so call it in a finally)."""

    def post(self, message: EmailMessage) -> None: ...

    def release(self) -> None: ...


class Outbox(Protocol):
    """Where services put mail: it is sent later, never within the request."""

    def reserve(self) -> Place:
        """A place for one message, or MailQueueFull."""
        ...


class _Place:
    __slots__ = ("_mailer",)

    def __init__(self, mailer: Mailer) -> None:
        self._mailer: Mailer | None = mailer

    def post(self, message: EmailMessage) -> None:
        mailer, self._mailer = self._mailer, None
        if mailer is None:
            raise RuntimeError("this place in the outbox was used or given back already")
        mailer._send_later(message)

    def release(self) -> None:
        mailer, self._mailer = self._mailer, None
        if mailer is not None:
            mailer._held -= 1


class Mailer:
    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._username = settings.smtp_username
        self._password = settings.smtp_password
        self._starttls = settings.smtp_starttls
        self._timeout = settings.smtp_timeout.total_seconds()
        self._slots = asyncio.Semaphore(CONCURRENT_SENDS)
        self._pending: set[asyncio.Task[None]] = set()
        self._capacity = settings.mail_queue_size
        # Places taken: reserved by a request, waiting for a sending slot, or being sent.
        self._held = 0

    @property
    def held(self) -> int:
        return self._held

    def reserve(self) -> Place:
        if self._held >= self._capacity:
            raise MailQueueFull("Too much mail is waiting to be sent; try again later.")
        self._held += 1
        return _Place(self)

    def _send_later(self, message: EmailMessage) -> None:
        task = asyncio.create_task(self._send(message))
        self._pending.add(task)  # a reference, or the task may be collected mid-send
        task.add_done_callback(self._pending.discard)

    async def _send(self, message: EmailMessage) -> None:
        try:
            async with self._slots:
                try:
                    await asyncio.to_thread(self._send_now, message)
                except (OSError, smtplib.SMTPException) as exc:
                    # The message holds a one-time link: never log it, nor the address.
                    log.warning("could not send mail: %s", type(exc).__name__)
        finally:
            self._held -= 1  # its place, sent or not

    def _send_now(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password.get_secret_value())
            smtp.send_message(message)

    async def flush(self) -> None:
        """Wait until every message posted so far was handed to the SMTP server (or failed;
        each attempt is bounded by the SMTP timeout)."""
        while self._pending:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        await self.flush()
