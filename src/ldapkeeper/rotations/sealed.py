"""Sealing of a rotation's secret material under its project's key.

Each value is bound to its row and field (associated data), so nothing can be moved between
rotations or attempts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pydantic import SecretStr
from sqlalchemy.orm import Session

from ldapkeeper.db.models import RotationAttempt, SecretRotation
from ldapkeeper.kms.keyring import KeyRing, Scope


@dataclass(frozen=True)
class Slot:
    """One generated credential: the account's DN and a password it had."""

    dn: str
    password: SecretStr = field(repr=False)


def seal_slots(
    session: Session, keyring: KeyRing, rotation: SecretRotation, slots: list[Slot | None]
) -> None:
    payload = [
        None if slot is None else {"dn": slot.dn, "password": slot.password.get_secret_value()}
        for slot in slots
    ]
    rotation.credentials_sealed = keyring.seal(
        session,
        Scope.project(rotation.project_id),
        f"secret_rotations:{rotation.id}:credentials",
        json.dumps(payload).encode(),
    )


def open_slots(session: Session, keyring: KeyRing, rotation: SecretRotation) -> list[Slot | None]:
    """The two credential slots (``[None, None]`` before the first rotation)."""
    if rotation.credentials_sealed is None:
        return [None, None]
    raw = keyring.open(
        session,
        Scope.project(rotation.project_id),
        f"secret_rotations:{rotation.id}:credentials",
        rotation.credentials_sealed,
    )
    return [
        None if item is None else Slot(item["dn"], SecretStr(item["password"]))
        for item in json.loads(raw)
    ]


def seal_temporary_password(
    session: Session, keyring: KeyRing, rotation: SecretRotation, password: SecretStr
) -> None:
    rotation.temporary_password_sealed = keyring.seal(
        session,
        Scope.project(rotation.project_id),
        f"secret_rotations:{rotation.id}:temporary_password",
        password.get_secret_value().encode(),
    )


def open_temporary_password(
    session: Session, keyring: KeyRing, rotation: SecretRotation
) -> SecretStr | None:
    if rotation.temporary_password_sealed is None:
        return None
    raw = keyring.open(
        session,
        Scope.project(rotation.project_id),
        f"secret_rotations:{rotation.id}:temporary_password",
        rotation.temporary_password_sealed,
    )
    return SecretStr(raw.decode())


def seal_pending(
    session: Session, keyring: KeyRing, project_id: str, attempt: RotationAttempt, password: str
) -> None:
    attempt.pending_password_sealed = keyring.seal(
        session,
        Scope.project(project_id),
        f"rotation_attempts:{attempt.id}:pending_password",
        password.encode(),
    )


def open_pending(
    session: Session, keyring: KeyRing, project_id: str, attempt: RotationAttempt
) -> SecretStr:
    raw = keyring.open(
        session,
        Scope.project(project_id),
        f"rotation_attempts:{attempt.id}:pending_password",
        attempt.pending_password_sealed,
    )
    return SecretStr(raw.decode())
