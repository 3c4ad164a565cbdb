from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from passkey_api.storage.models import AuditEvent


class AuditEventOut(BaseModel):
    id: uuid.UUID
    at: datetime
    event: str
    user_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    success: bool
    code: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls.model_validate(event, from_attributes=True)


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    total: int
    limit: int
    offset: int
