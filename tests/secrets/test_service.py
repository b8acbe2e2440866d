"""The secrets service on a real database: versions, folders on demand, sealing, and the
functions the rotation engine uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support.app import Api

from ldapkeeper.db.models import Folder, Secret, SecretVersion
from ldapkeeper.kms.errors import DecryptionFailed
from ldapkeeper.projects.service import get_environment
from ldapkeeper.secrets import service
from ldapkeeper.secrets.errors import (
    SecretAlreadyExists,
    SecretManagedByOtherRotation,
    SecretManagedByRotation,
    SecretNotFound,
    SecretVersionNotFound,
)

VALUE = "s3cr3t-value-that-must-never-be-on-disk-7d1c"


def _create(api: Api, key: str, value: str = VALUE, path: str = "/") -> service.SecretView:
    with api.runtime.db.write() as session:
        return service.create_secret(
            session,
            api.runtime.keyring,
            project_id=api.project_id,
            environment="dev",
            secret_path=path,
            key=key,
            value=value,
            comment="",
            skip_multiline_encoding=False,
            reveal=True,
        )


def _update(api: Api, key: str, value: str | None, new_key: str | None = None) -> None:
    with api.runtime.db.write() as session:
        service.update_secret(
            session,
            api.runtime.keyring,
            project_id=api.project_id,
            environment="dev",
            secret_path="/",
            key=key,
            new_key=new_key,
            value=value,
            comment=None,
            skip_multiline_encoding=None,
            reveal=True,
        )


def _get(api: Api, key: str, version: int | None = None, path: str = "/") -> service.SecretView:
    with api.runtime.db.read() as session:
        return service.get_secret(
            session,
            api.runtime.keyring,
            project_id=api.project_id,
            environment="dev",
            secret_path=path,
            key=key,
            version=version,
            reveal=True,
            expand=False,
        )


def _dev_folder(api: Api, path: str) -> Folder:
    with api.runtime.db.write() as session:
        env = get_environment(session, project_id=api.project_id, slug="dev")
        return service.ensure_folder(
            session, project_id=api.project_id, environment_id=env.id, path=path
        )


def test_create_starts_at_version_one_with_one_version_row(api: Api) -> None:
    created = _create(api, "DB_PASSWORD")
    with api.runtime.db.read() as session:
        versions = session.scalars(
            select(SecretVersion.version).where(SecretVersion.secret_id == created.id)
        ).all()
    assert created.version == 1
    assert list(versions) == [1]


def test_every_update_adds_a_version_and_old_versions_keep_their_values(api: Api) -> None:
    _create(api, "TOKEN", "one")
    _update(api, "TOKEN", "two")
    _update(api, "TOKEN", "three")
    assert _get(api, "TOKEN").version == 3
    assert [_get(api, "TOKEN", version=n).value for n in (1, 2, 3)] == ["one", "two", "three"]


def test_update_without_a_value_keeps_the_value_in_a_new_version(api: Api) -> None:
    _create(api, "KEEP", "same")
    _update(api, "KEEP", None, new_key="KEPT")
    current = _get(api, "KEPT")
    assert (current.version, current.value) == (2, "same")


def test_an_old_version_shows_the_key_it_had_then(api: Api) -> None:
    _create(api, "OLD_NAME", "v")
    _update(api, "OLD_NAME", None, new_key="NEW_NAME")
    assert _get(api, "NEW_NAME", version=1).key == "OLD_NAME"


def test_unknown_version_is_not_found(api: Api) -> None:
    _create(api, "ONCE")
    with pytest.raises(SecretVersionNotFound):
        _get(api, "ONCE", version=7)


def test_create_makes_every_missing_folder_of_the_path(api: Api) -> None:
    _create(api, "DEEP", path="/a/b")
    with api.runtime.db.read() as session:
        env = get_environment(session, project_id=api.project_id, slug="dev")
        rows = session.scalars(select(Folder).where(Folder.environment_id == env.id)).all()
        by_path = {row.path: row for row in rows}
    assert {"/", "/a", "/a/b"} <= set(by_path)
    assert by_path["/a/b"].parent_id == by_path["/a"].id
    assert by_path["/a"].parent_id == by_path["/"].id


def test_ensure_folder_returns_the_existing_folder(api: Api) -> None:
    first = _dev_folder(api, "/ldap/ad")
    again = _dev_folder(api, "ldap//ad/")
    assert first.id == again.id


def test_creating_an_existing_name_is_refused(api: Api) -> None:
    _create(api, "TWICE")
    with pytest.raises(SecretAlreadyExists):
        _create(api, "TWICE")


def test_same_name_in_another_folder_is_another_secret(api: Api) -> None:
    top = _create(api, "SAME")
    nested = _create(api, "SAME", path="/nested")
    assert top.id != nested.id


def test_the_value_is_not_in_the_database_files(api: Api, tmp_path: Path) -> None:
    _create(api, "ON_DISK")
    _update(api, "ON_DISK", VALUE + "-v2")
    api.runtime.db.dispose()
    needle = VALUE.encode()
    files = [p for p in tmp_path.rglob("*.db*") if p.is_file()]
    assert files, "the SQLite database file was not found"
    for path in files:
        assert needle not in path.read_bytes(), path.name


def test_a_ciphertext_copied_to_another_secret_does_not_open(api: Api) -> None:
    _create(api, "ORIGINAL", "original-value")
    _create(api, "OTHER", "other-value")
    with api.runtime.db.write() as session:
        rows = {s.key: s for s in session.scalars(select(Secret)).all()}
        rows["OTHER"].value_sealed = rows["ORIGINAL"].value_sealed
    with api.runtime.db.read() as session:
        other = session.scalars(select(Secret).where(Secret.key == "OTHER")).one()
        with pytest.raises(DecryptionFailed):
            service.read_secret_value(session, api.runtime.keyring, other)


def test_a_secret_ciphertext_copied_to_a_version_row_does_not_open(api: Api) -> None:
    created = _create(api, "VERSIONED", "v1")
    with api.runtime.db.write() as session:
        secret = session.get(Secret, created.id)
        assert secret is not None
        version = session.scalars(
            select(SecretVersion).where(SecretVersion.secret_id == created.id)
        ).one()
        version.value_sealed = secret.value_sealed
    with pytest.raises(DecryptionFailed):
        _get(api, "VERSIONED", version=1)


def test_delete_removes_the_secret_and_its_versions(api: Api) -> None:
    created = _create(api, "GONE")
    with api.runtime.db.write() as session:
        service.delete_secret(
            session,
            api.runtime.keyring,
            project_id=api.project_id,
            environment="dev",
            secret_path="/",
            key="GONE",
            reveal=False,
        )
    with api.runtime.db.read() as session:
        left = session.scalars(
            select(SecretVersion).where(SecretVersion.secret_id == created.id)
        ).all()
    assert left == []
    with pytest.raises(SecretNotFound):
        _get(api, "GONE")


def test_list_without_reveal_opens_no_value(api: Api) -> None:
    _create(api, "HIDDEN")
    with api.runtime.db.write() as session:
        # A broken ciphertext proves nothing was opened.
        session.scalars(select(Secret)).one().value_sealed = b"\x00" * 40
    with api.runtime.db.read() as session:
        views = service.list_secrets(
            session,
            api.runtime.keyring,
            project_id=api.project_id,
            environment="dev",
            secret_path="/",
            recursive=False,
            reveal=False,
            expand=False,
        )
    assert [(v.key, v.value) for v in views] == [("HIDDEN", None)]


# --- the rotation engine's functions ------------------------------------------------------


def _write_managed(api: Api, folder: Folder, key: str, value: str, rotation: str) -> Secret:
    _write_many(api, folder, {key: value}, rotation)
    with api.runtime.db.read() as session:
        return session.scalars(
            select(Secret).where(Secret.folder_id == folder.id, Secret.key == key)
        ).one()


def _write_many(api: Api, folder: Folder, values: dict[str, str], rotation: str) -> None:
    with api.runtime.db.write() as session:
        service.write_managed_secrets(
            session,
            api.runtime.keyring,
            service.ManagedValues(
                project_id=folder.project_id,
                environment_id=folder.environment_id,
                folder_id=folder.id,
                rotation_id=rotation,
                values=values,
            ),
        )


def _versions(api: Api, secret_id: str) -> list[int]:
    with api.runtime.db.read() as session:
        return list(
            session.scalars(
                select(SecretVersion.version)
                .where(SecretVersion.secret_id == secret_id)
                .order_by(SecretVersion.version)
            )
        )


def test_write_managed_secrets_creates_a_managed_secret(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    secret = _write_managed(api, folder, "LDAP_PASSWORD", "pw-1", "rot-1")
    assert secret.managed_by_rotation_id == "rot-1"
    assert _get(api, "LDAP_PASSWORD", path="/ldap").value == "pw-1"


def test_write_managed_secrets_again_adds_a_version(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_managed(api, folder, "LDAP_PASSWORD", "pw-1", "rot-1")
    _write_managed(api, folder, "LDAP_PASSWORD", "pw-2", "rot-1")
    current = _get(api, "LDAP_PASSWORD", path="/ldap")
    assert (current.version, current.value) == (2, "pw-2")


def test_write_managed_secrets_refuses_another_rotations_secret(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_managed(api, folder, "LDAP_PASSWORD", "pw-1", "rot-1")
    with pytest.raises(SecretManagedByOtherRotation):
        _write_managed(api, folder, "LDAP_PASSWORD", "pw-x", "rot-2")


def test_write_managed_secrets_writes_several_keys_at_once(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_many(api, folder, {"LDAP_DN": "cn=svc", "LDAP_PASSWORD": "pw-1"}, "rot-1")
    _write_many(api, folder, {"LDAP_DN": "cn=svc", "LDAP_PASSWORD": "pw-2"}, "rot-1")
    dn = _get(api, "LDAP_DN", path="/ldap")
    password = _get(api, "LDAP_PASSWORD", path="/ldap")
    assert (dn.version, dn.value) == (2, "cn=svc")
    assert (password.version, password.value) == (2, "pw-2")
    assert _versions(api, password.id) == [1, 2]


def test_write_managed_secrets_creates_one_and_bumps_another(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_many(api, folder, {"LDAP_PASSWORD": "pw-1"}, "rot-1")
    _write_many(api, folder, {"LDAP_DN": "cn=svc", "LDAP_PASSWORD": "pw-2"}, "rot-1")
    assert _get(api, "LDAP_DN", path="/ldap").version == 1
    assert _get(api, "LDAP_PASSWORD", path="/ldap").version == 2


def test_write_managed_secrets_takes_an_unmanaged_secret_over(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_many(api, folder, {"LDAP_PASSWORD": "by-hand"}, "rot-1")
    with api.runtime.db.write() as session:
        secret = session.scalars(select(Secret).where(Secret.folder_id == folder.id)).one()
        secret.managed_by_rotation_id = None
    secret = _write_managed(api, folder, "LDAP_PASSWORD", "pw-2", "rot-2")
    assert (secret.managed_by_rotation_id, secret.version) == ("rot-2", 2)


def test_write_managed_secrets_writes_nothing_when_one_key_is_another_rotations(
    api: Api,
) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_many(api, folder, {"LDAP_PASSWORD": "pw-1"}, "rot-1")
    with pytest.raises(SecretManagedByOtherRotation):
        _write_many(api, folder, {"OTHER_DN": "cn=x", "LDAP_PASSWORD": "pw-x"}, "rot-2")
    with api.runtime.db.read() as session:
        keys = session.scalars(select(Secret.key).where(Secret.folder_id == folder.id)).all()
    assert keys == ["LDAP_PASSWORD"]


def test_secret_exists_sees_a_secret_by_folder_and_key(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_managed(api, folder, "LDAP_DN", "cn=svc", "rot-1")
    with api.runtime.db.read() as session:
        assert service.secret_exists(session, folder_id=folder.id, key="LDAP_DN")
        assert not service.secret_exists(session, folder_id=folder.id, key="LDAP_PASSWORD")


def test_rename_managed_secret_keeps_value_and_version(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_managed(api, folder, "LDAP_PASSWORD", "pw-1", "rot-1")
    with api.runtime.db.write() as session:
        service.rename_managed_secret(
            session, rotation_id="rot-1", old_key="LDAP_PASSWORD", new_key="AD_PASSWORD"
        )
    renamed = _get(api, "AD_PASSWORD", path="/ldap")
    assert (renamed.value, renamed.version) == ("pw-1", 1)


def test_rename_managed_secret_refuses_a_taken_name(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_managed(api, folder, "LDAP_PASSWORD", "pw-1", "rot-1")
    _create(api, "TAKEN", path="/ldap")
    with api.runtime.db.write() as session, pytest.raises(SecretAlreadyExists):
        service.rename_managed_secret(
            session, rotation_id="rot-1", old_key="LDAP_PASSWORD", new_key="TAKEN"
        )


def test_delete_managed_secrets_deletes_only_that_rotations_secrets(api: Api) -> None:
    folder = _dev_folder(api, "/ldap")
    _write_managed(api, folder, "A_PASSWORD", "a", "rot-1")
    _write_managed(api, folder, "A_DN", "a", "rot-1")
    _write_managed(api, folder, "B_PASSWORD", "b", "rot-2")
    with api.runtime.db.write() as session:
        deleted = service.delete_managed_secrets(session, rotation_id="rot-1")
    with api.runtime.db.read() as session:
        left = session.scalars(select(Secret.key)).all()
    assert deleted == 2
    assert list(left) == ["B_PASSWORD"]


def test_a_managed_secret_cannot_be_updated_through_the_api_service(api: Api) -> None:
    folder = _dev_folder(api, "/")
    _write_managed(api, folder, "LDAP_PASSWORD", "pw-1", "rot-1")
    with pytest.raises(SecretManagedByRotation):
        _update(api, "LDAP_PASSWORD", "mine")
