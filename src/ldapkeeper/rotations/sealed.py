"""Sealing of a rotation's secret material under its project's key.

Each value is bound to its row and field (associated data), so nothing can be moved between
rotations or attempts. The functions take ids and bytes, not rows: the engine's hot path
reads and writes columns, not ORM objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pydantic import SecretStr
from sqlalchemy.orm import Session

from ldapkeeper.kms.keyring import KeyRing, Scope


@dataclass(frozen=True)
class Slot:
    """One generated credential: the account's DN and a password it had."""

    dn: str
    password: SecretStr = field(repr=False)


def seal_slots(
    session: Session, keyring: KeyRing, project_id: str, rotation_id: str, slots: list[Slot | None]
) -> bytes:
    """The two credential slots, sealed for ``secret_rotations.credentials_sealed``."""
    payload = [
        None if slot is None else {"dn": slot.dn, "password": slot.password.get_secret_value()}
        for slot in slots
    ]
    return keyring.seal(
        session,
        Scope.project(project_id),
        f"secret_rotations:{rotation_id}:credentials",
        json.dumps(payload).encode(),
    )


def open_slots(
    session: Session,
    keyring: KeyRing,
    project_id: str,
    rotation_id: str,
    credentials_sealed: bytes | None,
) -> list[Slot | None]:
    """The two credential slots (``[None, None]`` before the first rotation)."""
    if credentials_sealed is None:
        return [None, None]
    raw = keyring.open(
        session,
        Scope.project(project_id),
        f"secret_rotations:{rotation_id}:credentials",
        credentials_sealed,
    )
    return [
        None if item is None else Slot(item["dn"], SecretStr(item["password"]))
        for item in json.loads(raw)
    ]


def seal_temporary_password(
    session: Session, keyring: KeyRing, project_id: str, rotation_id: str, password: SecretStr
) -> bytes:
    """The target's current password (target-principal, until the first rotation), sealed."""
    return keyring.seal(
        session,
        Scope.project(project_id),
        f"secret_rotations:{rotation_id}:temporary_password",
        password.get_secret_value().encode(),
    )


def open_temporary_password(
    session: Session,
    keyring: KeyRing,
    project_id: str,
    rotation_id: str,
    temporary_password_sealed: bytes | None,
) -> SecretStr | None:
    if temporary_password_sealed is None:
        return None
    raw = keyring.open(
        session,
        Scope.project(project_id),
        f"secret_rotations:{rotation_id}:temporary_password",
        temporary_password_sealed,
    )
    return SecretStr(raw.decode())


def seal_pending(
    session: Session, keyring: KeyRing, project_id: str, attempt_id: str, password: str
) -> bytes:
    """An attempt's new password, sealed for ``rotation_attempts.pending_password_sealed``."""
    return keyring.seal(
        session,
        Scope.project(project_id),
        f"rotation_attempts:{attempt_id}:pending_password",
        password.encode(),
    )


def open_pending(
    session: Session, keyring: KeyRing, project_id: str, attempt_id: str, sealed: bytes
) -> SecretStr:
    raw = keyring.open(
        session,
        Scope.project(project_id),
        f"rotation_attempts:{attempt_id}:pending_password",
        sealed,
    )
    return SecretStr(raw.decode())
