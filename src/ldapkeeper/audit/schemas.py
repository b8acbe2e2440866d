"""Response models of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ldapkeeper.schemas import ApiModel


class AuditActor(ApiModel):
    type: str
    id: str | None
    name: str | None


class AuditEventPublic(ApiModel):
    id: str
    type: str
    actor: AuditActor
    project_id: str | None
    metadata: dict[str, Any]
    ip: str | None
    user_agent: str | None
    created_at: datetime


class AuditLogList(ApiModel):
    audit_logs: list[AuditEventPublic]
