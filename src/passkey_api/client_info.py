"""Who is on the other end of a request, as far as sessions and the audit trail record it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientInfo:
    user_agent: str | None
    ip: str | None
