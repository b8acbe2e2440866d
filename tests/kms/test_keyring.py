from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.support.app import Api
from tests.support.database import sqlite_file_bytes

from ldapkeeper.db.migrate import upgrade
from ldapkeeper.db.models import DataKey, Project, SealedSetting
from ldapkeeper.db.session import Database
from ldapkeeper.identity.tokens import load_signing_key
from ldapkeeper.kms.errors import DataKeyMissing, DecryptionFailed
from ldapkeeper.kms.keyring import KeyRing, Scope
from ldapkeeper.kms.root_key import RootKey, generate_root_key_text, parse_root_key

PROJECT_A = Scope.project("project-a")
PROJECT_B = Scope.project("project-b")
ORG = Scope.org("org-1")
RECORD = "secrets:row-1:value"
PLAINTEXT = b"correct horse battery staple"


def _root() -> RootKey:
    return parse_root_key(generate_root_key_text())


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def root() -> RootKey:
    return _root()


@pytest.fixture
def keyring(db: Database, root: RootKey) -> KeyRing:
    ring = KeyRing(root)
    with db.write() as session:
        for scope in (PROJECT_A, PROJECT_B, ORG):
            ring.create_data_key(session, scope)
    return ring


def _seal(db: Database, ring: KeyRing, scope: Scope = PROJECT_A, record: str = RECORD) -> bytes:
    with db.write() as session:
        return ring.seal(session, scope, record, PLAINTEXT)


def _open(
    db: Database, ring: KeyRing, sealed: bytes, scope: Scope = PROJECT_A, record: str = RECORD
) -> bytes:
    with db.read() as session:
        return ring.open(session, scope, record, sealed)


def test_sealed_value_opens_for_its_scope_and_record(db: Database, keyring: KeyRing) -> None:
    assert _open(db, keyring, _seal(db, keyring)) == PLAINTEXT


def test_sealed_value_does_not_contain_the_plaintext(db: Database, keyring: KeyRing) -> None:
    assert PLAINTEXT not in _seal(db, keyring)


def test_sealing_twice_gives_different_ciphertexts(db: Database, keyring: KeyRing) -> None:
    assert _seal(db, keyring) != _seal(db, keyring)


def test_ciphertext_copied_to_another_record_does_not_open(db: Database, keyring: KeyRing) -> None:
    sealed = _seal(db, keyring, record="secrets:row-1:value")
    with pytest.raises(DecryptionFailed):
        _open(db, keyring, sealed, record="secrets:row-2:value")


def test_ciphertext_of_one_project_does_not_open_with_another_projects_key(
    db: Database, keyring: KeyRing
) -> None:
    sealed = _seal(db, keyring, scope=PROJECT_A)
    with pytest.raises(DecryptionFailed):
        _open(db, keyring, sealed, scope=PROJECT_B)


@pytest.mark.parametrize("position", [5, 17, -1], ids=["nonce", "ciphertext", "tag"])
def test_tampered_ciphertext_does_not_open(db: Database, keyring: KeyRing, position: int) -> None:
    sealed = bytearray(_seal(db, keyring))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptionFailed):
        _open(db, keyring, bytes(sealed))


def test_truncated_ciphertext_does_not_open(db: Database, keyring: KeyRing) -> None:
    with pytest.raises(DecryptionFailed):
        _open(db, keyring, _seal(db, keyring)[:20])


def test_ciphertext_naming_an_unknown_key_version_does_not_open(
    db: Database, keyring: KeyRing
) -> None:
    sealed = bytearray(_seal(db, keyring))
    sealed[4] = 7  # key version 1 → 7
    with pytest.raises(DataKeyMissing):
        _open(db, keyring, bytes(sealed))


def test_sealing_for_a_scope_without_data_key_fails(db: Database, keyring: KeyRing) -> None:
    with pytest.raises(DataKeyMissing):
        _seal(db, keyring, scope=Scope.project("no-such-project"))


def test_another_root_key_cannot_open_anything(db: Database, keyring: KeyRing) -> None:
    sealed = _seal(db, keyring)
    with pytest.raises(DataKeyMissing):
        _open(db, KeyRing(_root()), sealed)


def test_wrapped_data_key_names_its_root_key(db: Database, keyring: KeyRing, root: RootKey) -> None:
    with db.read() as session:
        ids = set(session.scalars(select(DataKey.root_key_id)))
    assert ids == {root.key_id}


def _rewrap(db: Database, ring: KeyRing, new_root: RootKey) -> int:
    with db.write() as session:
        return ring.rewrap_all(session, new_root)


def test_rewrap_keeps_every_record_readable_with_the_new_root_key_alone(
    db: Database, keyring: KeyRing
) -> None:
    sealed = {scope: _seal(db, keyring, scope=scope) for scope in (PROJECT_A, PROJECT_B, ORG)}
    new_root = _root()
    assert _rewrap(db, keyring, new_root) == 3
    fresh = KeyRing(new_root)
    for scope, value in sealed.items():
        assert _open(db, fresh, value, scope=scope) == PLAINTEXT


def test_rewrap_records_the_new_root_key_id(db: Database, keyring: KeyRing) -> None:
    new_root = _root()
    _rewrap(db, keyring, new_root)
    with db.read() as session:
        assert set(session.scalars(select(DataKey.root_key_id))) == {new_root.key_id}


def test_old_root_key_alone_no_longer_opens_after_rewrap(
    db: Database, keyring: KeyRing, root: RootKey
) -> None:
    sealed = _seal(db, keyring)
    _rewrap(db, keyring, _root())
    with pytest.raises(DataKeyMissing):
        _open(db, KeyRing(root), sealed)


def test_previous_root_key_opens_what_was_not_rewrapped_yet(
    db: Database, keyring: KeyRing, root: RootKey
) -> None:
    sealed = _seal(db, keyring)
    new_root = _root()
    assert _open(db, KeyRing(new_root, previous=root), sealed) == PLAINTEXT


def test_rewrap_with_new_key_current_and_old_previous_moves_every_key(
    db: Database, keyring: KeyRing, root: RootKey
) -> None:
    sealed = _seal(db, keyring)
    new_root = _root()
    _rewrap(db, KeyRing(new_root, previous=root), new_root)
    assert _open(db, KeyRing(new_root), sealed) == PLAINTEXT


def test_new_data_keys_are_wrapped_by_the_current_root_key(
    db: Database, keyring: KeyRing, root: RootKey
) -> None:
    new_root = _root()
    scope = Scope.project("created-after-rotation")
    ring = KeyRing(new_root, previous=root)
    with db.write() as session:
        ring.create_data_key(session, scope)
    sealed = _seal(db, ring, scope=scope)
    assert _open(db, KeyRing(new_root), sealed, scope=scope) == PLAINTEXT


def _scan(api: Api) -> bytes:
    return sqlite_file_bytes(api.runtime.settings.effective_database_url)


def _signing_key(session: Session, api: Api) -> bytes:
    return load_signing_key(session, api.runtime.keyring, api.runtime.org_id)


def test_sealed_signing_key_never_appears_in_the_database_files(api: Api) -> None:
    with api.runtime.db.read() as session:
        signing_key = _signing_key(session, api)
    raw = _scan(api)
    assert signing_key not in raw
    assert signing_key.hex().encode() not in raw


def test_known_password_sealed_into_a_row_never_appears_in_the_database_files(
    api: Api,
) -> None:
    password = b"known-password-canary-6f1c2a"
    control = "plain-description-canary-0b7e"
    runtime = api.runtime
    with runtime.db.write() as session:
        sealed = runtime.keyring.seal(
            session, Scope.project(api.project_id), "sealed_settings:canary:value", password
        )
        session.add(SealedSetting(name="canary", value_sealed=sealed))
        project = session.get(Project, api.project_id)
        assert project is not None
        project.description = control
    raw = _scan(api)
    assert control.encode() in raw  # the scan does see what is stored in clear
    assert password not in raw
