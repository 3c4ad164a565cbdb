"""Outgoing mail over SMTP (the stdlib client, in a thread), sent in the background.

Requests only hand a message over (`post`) and answer at once: how long an SMTP server
takes must not tell a caller whether a message was sent at all (whether an address
belongs to an account). The lifespan owns the Mailer and waits for what is in flight
when the app stops.
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

log = logging.getLogger(__name__)

# At most this many SMTP conversations at once; more wait their turn.
CONCURRENT_SENDS = 4


class Outbox(Protocol):
    """Where services put mail: it is sent later, never within the request."""

    def post(self, message: EmailMessage) -> None: ...


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

    def post(self, message: EmailMessage) -> None:
        task = asyncio.create_task(self._send(message))
        self._pending.add(task)  # a reference, or the task may be collected mid-send
        task.add_done_callback(self._pending.discard)

    async def _send(self, message: EmailMessage) -> None:
        async with self._slots:
            try:
                await asyncio.to_thread(self._send_now, message)
            except (OSError, smtplib.SMTPException) as exc:
                # The message holds a one-time link: never log it, nor the address.
                log.warning("could not send mail: %s", type(exc).__name__)

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
