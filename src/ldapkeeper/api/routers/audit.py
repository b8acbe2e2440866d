"""The audit log (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from ldapkeeper.api.deps import PrincipalDep, RuntimeDep, require_org_admin, require_project_action
from ldapkeeper.audit import service
from ldapkeeper.audit.queue import audit_queue
from ldapkeeper.audit.schemas import AuditActor, AuditEventPublic, AuditLogList
from ldapkeeper.identity.permissions import Subject
from ldapkeeper.projects.service import get_project

router = APIRouter(prefix="/api/v1/audit-logs", tags=["audit"])


@router.get("", response_model=AuditLogList)
def list_audit_logs(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    project_id: Annotated[str | None, Query(alias="projectId", max_length=64)] = None,
    event_type: Annotated[str | None, Query(alias="eventType", max_length=64)] = None,
    start_date: Annotated[datetime | None, Query(alias="startDate")] = None,
    end_date: Annotated[datetime | None, Query(alias="endDate")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditLogList:
    """Events, newest first: a project's for its admins, all for org admins."""
    if project_id is None:
        require_org_admin(principal)
    else:
        with runtime.db.read() as session:
            get_project(session, org_id=principal.org_id, project_id=project_id)
        require_project_action(
            runtime, principal, project_id, Subject.PROJECT_ADMIN, "read-audit-logs"
        )
    # Reads' events wait in a queue for up to half a second: this process's are listed now.
    audit_queue(runtime.db).flush()
    with runtime.db.read() as session:
        events = service.query(
            session,
            project_id=project_id,
            event_type=event_type,
            start=start_date,
            end=end_date,
            limit=limit,
            offset=offset,
        )
        return AuditLogList(
            audit_logs=[
                AuditEventPublic(
                    id=e.id,
                    type=e.type,
                    actor=AuditActor(type=e.actor_type, id=e.actor_id, name=e.actor_name),
                    project_id=e.project_id,
                    metadata=e.event_metadata,
                    ip=e.ip,
                    user_agent=e.user_agent,
                    created_at=e.created_at,
                )
                for e in events
            ]
        )
