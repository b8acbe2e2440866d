"""Health and metrics (no token needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from ldapkeeper.api.deps import RuntimeDep
from ldapkeeper.metrics import REGISTRY
from ldapkeeper.schemas import ApiModel

router = APIRouter(tags=["status"])


class Status(ApiModel):
    status: str
    message: str
    date: datetime
    database: str


@router.get("/api/status", response_model=Status)
def status(runtime: RuntimeDep) -> Status:
    """Health: answers 200 when the process and its database answer."""
    with runtime.db.read() as session:
        session.execute(text("SELECT 1"))
    return Status(
        status="ok",
        message="Ok",
        date=datetime.now(UTC),
        database="sqlite" if runtime.db.is_sqlite else "postgresql",
    )


@router.get("/metrics", response_class=Response, include_in_schema=True)
def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
