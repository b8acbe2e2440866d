"""Which rotations use a connection. Imports only the models, so the connections service
can ask without an import cycle (the rotation service imports the connections service)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ldapkeeper.db.models import SecretRotation


def rotations_using(session: Session, connection_id: str) -> int:
    """How many secret rotations use the connection."""
    count = session.scalar(
        select(func.count())
        .select_from(SecretRotation)
        .where(SecretRotation.connection_id == connection_id)
    )
    return int(count or 0)


def connection_in_use(session: Session, connection_id: str) -> bool:
    """True when some secret rotation uses the connection."""
    return (
        session.scalar(
            select(SecretRotation.id).where(SecretRotation.connection_id == connection_id).limit(1)
        )
        is not None
    )
