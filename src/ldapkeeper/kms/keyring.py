"""Envelope encryption: root key → one data key per scope → AES-256-GCM records.

A sealed record is ``b"\\x01" | key version (4 bytes) | nonce (12) | ciphertext``. The
associated data binds it to its scope, its key version and the caller's record id, so a
ciphertext copied into another row does not open.
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ldapkeeper.db.models import DataKey
from ldapkeeper.db.session import Database
from ldapkeeper.kms.errors import DataKeyMissing, DecryptionFailed
from ldapkeeper.kms.root_key import RootKey

_FORMAT = b"\x01"
_HEADER = struct.Struct(">cI12s")


@dataclass(frozen=True)
class Scope:
    """Whose data key seals a record: ``org`` or ``project`` and its id."""

    type: str
    id: str

    @classmethod
    def org(cls, org_id: str) -> Scope:
        return cls("org", org_id)

    @classmethod
    def project(cls, project_id: str) -> Scope:
        return cls("project", project_id)


def _wrap_aad(scope: Scope, version: int) -> bytes:
    return f"ldapkeeper-data-key:{scope.type}:{scope.id}:{version}".encode()


def _record_aad(scope: Scope, version: int, record: str) -> bytes:
    return f"ldapkeeper-record:{scope.type}:{scope.id}:{version}:{record}".encode()


class KeyRing:
    """Seals and opens bytes for a scope. The only code that sees key material."""

    def __init__(self, root: RootKey, previous: RootKey | None = None) -> None:
        self._root = root
        self._roots = {root.key_id: root}
        if previous is not None:
            self._roots.setdefault(previous.key_id, previous)
        self._cache: dict[tuple[Scope, int], bytes] = {}
        self._current_version: dict[Scope, int] = {}
        self._lock = threading.Lock()

    @property
    def root_key_id(self) -> str:
        return self._root.key_id

    def create_data_key(self, session: Session, scope: Scope) -> None:
        """Create the scope's first data key (in the caller's transaction)."""
        material = AESGCM.generate_key(bit_length=256)
        session.add(
            DataKey(
                scope_type=scope.type,
                scope_id=scope.id,
                version=1,
                wrapped_key=self._wrap(self._root, scope, 1, material),
                root_key_id=self._root.key_id,
            )
        )
        session.flush()

    def seal(self, session: Session, scope: Scope, record: str, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` for the record named ``record`` (table:id:field)."""
        version, key = self._current_key(session, scope)
        nonce = os.urandom(12)
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, _record_aad(scope, version, record))
        return _HEADER.pack(_FORMAT, version, nonce) + ciphertext

    def open(
        self, session: Session | Connection | Database, scope: Scope, record: str, sealed: bytes
    ) -> bytes:
        """Decrypt what ``seal`` made for the same scope and record; DecryptionFailed else.

        ``session`` (or a bare connection, or the database to read from) is used only to
        load a data key not yet cached.
        """
        version, nonce = _header(sealed)
        key = self._key(session, scope, version)
        return _decrypt(key, scope, version, nonce, record, sealed)

    def open_cached(self, scope: Scope, record: str, sealed: bytes) -> bytes | None:
        """``open`` without any I/O: None when the data key it needs is not cached yet."""
        version, nonce = _header(sealed)
        key = self._cache.get((scope, version))
        return None if key is None else _decrypt(key, scope, version, nonce, record, sealed)

    def rewrap_all(self, session: Session, new_root: RootKey) -> int:
        """Re-wrap every data key under ``new_root``; records are untouched. Returns the count."""
        rows = session.scalars(select(DataKey)).all()
        for row in rows:
            scope = Scope(row.scope_type, row.scope_id)
            material = self._unwrap(row)
            row.wrapped_key = self._wrap(new_root, scope, row.version, material)
            row.root_key_id = new_root.key_id
        session.flush()
        return len(rows)

    def _current_key(self, session: Session, scope: Scope) -> tuple[int, bytes]:
        version = self._current_version.get(scope)
        if version is None:
            row = session.scalars(
                select(DataKey)
                .where(DataKey.scope_type == scope.type, DataKey.scope_id == scope.id)
                .order_by(DataKey.version.desc())
                .limit(1)
            ).first()
            if row is None:
                raise DataKeyMissing(f"no data key for {scope.type} {scope.id}")
            version = row.version
            with self._lock:
                self._cache[(scope, version)] = self._unwrap(row)
                self._current_version[scope] = version
        return version, self._key(session, scope, version)

    def _key(self, session: Session | Connection | Database, scope: Scope, version: int) -> bytes:
        cached = self._cache.get((scope, version))
        if cached is not None:
            return cached
        if isinstance(session, Database):
            with session.read() as reading:
                return self._key(reading, scope, version)
        row = session.execute(
            select(DataKey.root_key_id, DataKey.wrapped_key).where(
                DataKey.scope_type == scope.type,
                DataKey.scope_id == scope.id,
                DataKey.version == version,
            )
        ).first()
        if row is None:
            raise DataKeyMissing(f"no data key v{version} for {scope.type} {scope.id}")
        material = self._unwrap_key(scope, version, row.root_key_id, row.wrapped_key)
        with self._lock:
            self._cache[(scope, version)] = material
        return material

    def _unwrap(self, row: DataKey) -> bytes:
        scope = Scope(row.scope_type, row.scope_id)
        return self._unwrap_key(scope, row.version, row.root_key_id, row.wrapped_key)

    def _unwrap_key(self, scope: Scope, version: int, root_key_id: str, blob: bytes) -> bytes:
        root = self._roots.get(root_key_id)
        if root is None:
            raise DataKeyMissing(
                f"data key of {scope.type} {scope.id} is wrapped by root key "
                f"{root_key_id}, which this process does not have "
                "(set LDAPKEEPER_ROOT_KEY_PREVIOUS?)"
            )
        try:
            return AESGCM(root.material).decrypt(blob[:12], blob[12:], _wrap_aad(scope, version))
        except InvalidTag as exc:
            raise DecryptionFailed("data key does not unwrap") from exc

    @staticmethod
    def _wrap(root: RootKey, scope: Scope, version: int, material: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(root.material).encrypt(nonce, material, _wrap_aad(scope, version))


def _header(sealed: bytes) -> tuple[int, bytes]:
    """The data key version and the nonce of a sealed value; DecryptionFailed when it is
    malformed."""
    if len(sealed) < _HEADER.size + 16:
        raise DecryptionFailed("sealed value is truncated")
    fmt, version, nonce = _HEADER.unpack_from(sealed)
    if fmt != _FORMAT:
        raise DecryptionFailed("unknown sealed format")
    return int(version), bytes(nonce)


def _decrypt(
    key: bytes, scope: Scope, version: int, nonce: bytes, record: str, sealed: bytes
) -> bytes:
    try:
        return AESGCM(key).decrypt(
            nonce, sealed[_HEADER.size :], _record_aad(scope, version, record)
        )
    except InvalidTag as exc:
        raise DecryptionFailed("sealed value does not open for this record") from exc
