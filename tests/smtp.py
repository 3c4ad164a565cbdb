"""A real SMTP server for the mail tests: aiosmtpd as its own process on a free localhost
port, storing what it receives in a Maildir that the tests read."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import mailbox
import re
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

# How long a test waits for a message before it fails (a bound, not a timing assertion).
DELIVERY_DEADLINE = 20.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _arrival(key: str) -> tuple[int, ...]:
    # Maildir names start "<seconds>.M<microseconds>P<pid>Q<counter>".
    found = re.match(r"(\d+)\.M(\d+)P\d+Q(\d+)", key)
    assert found is not None, key
    return tuple(int(part) for part in found.groups())


@dataclass
class SmtpServer:
    host: str
    port: int
    maildir: Path

    def messages(self) -> list[EmailMessage]:
        """Everything received, oldest first."""
        box = mailbox.Maildir(self.maildir, create=False)
        found = []
        for key in sorted(box.iterkeys(), key=_arrival):
            raw = box.get_bytes(key)
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if str(m["To"]).lower() == address.lower()]

    async def wait_for(self, address: str, count: int = 1) -> list[EmailMessage]:
        """The messages to `address`, once there are `count` of them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DELIVERY_DEADLINE
        while True:
            found = self.messages_to(address)
            if len(found) >= count:
                return found
            if loop.time() > deadline:
                raise AssertionError(f"{count} message(s) to {address} never arrived")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def smtp_server(directory: Path) -> AsyncIterator[SmtpServer]:
    maildir = directory / "Maildir"
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiosmtpd",
        "-n",
        "-l",
        f"127.0.0.1:{port}",
        "-c",
        "aiosmtpd.handlers.Mailbox",
        str(maildir),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DELIVERY_DEADLINE
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if process.returncode is not None or loop.time() > deadline:
                    raise RuntimeError("the aiosmtpd server did not start") from None
                await asyncio.sleep(0.05)
            else:
                writer.close()
                await writer.wait_closed()
                break
        yield SmtpServer(host="127.0.0.1", port=port, maildir=maildir)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
