"""Secret paths and the folder tree of an environment."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select
from tests.support.app import Api

from ldapkeeper.db.models import Folder
from ldapkeeper.projects.service import get_environment
from ldapkeeper.secrets import folders
from ldapkeeper.secrets.errors import InvalidSecretPath, RootFolderImmutable


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("/", "/"), ("", "/"), ("ldap", "/ldap"), ("/ldap/", "/ldap"), ("//a//b/", "/a/b")],
)
def test_paths_are_normalized(given: str, canonical: str) -> None:
    assert folders.normalize_path(given) == canonical


@pytest.mark.parametrize("bad", ["/a/../b", "/a/./b", "/with space", "/a:b", "/" + "x" * 65])
def test_a_path_with_an_invalid_folder_name_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="folder"):
        folders.normalize_path(bad)


def test_services_report_a_bad_path_as_a_bad_request() -> None:
    with pytest.raises(InvalidSecretPath):
        folders.canonical_path("/a/../b")


def _env_id(api: Api) -> str:
    with api.runtime.db.read() as session:
        return get_environment(session, project_id=api.project_id, slug="dev").id


def _ensure(api: Api, path: str) -> Folder:
    with api.runtime.db.write() as session:
        return folders.ensure_folder(
            session, project_id=api.project_id, environment_id=_env_id(api), path=path
        )


def test_a_rename_rewrites_the_paths_of_every_folder_below(api: Api) -> None:
    top = _ensure(api, "/old")
    _ensure(api, "/old/a/b")
    with api.runtime.db.write() as session:
        row = session.get(Folder, top.id)
        assert row is not None
        folders.update_folder(session, folder=row, name="new", description=None)
    with api.runtime.db.read() as session:
        paths = session.scalars(
            select(Folder.path).where(Folder.environment_id == _env_id(api)).order_by(Folder.path)
        ).all()
    assert list(paths) == ["/", "/new", "/new/a", "/new/a/b"]


def test_a_rename_leaves_a_sibling_with_a_common_prefix_alone(api: Api) -> None:
    top = _ensure(api, "/app")
    _ensure(api, "/application")
    with api.runtime.db.write() as session:
        row = session.get(Folder, top.id)
        assert row is not None
        folders.update_folder(session, folder=row, name="svc", description=None)
    with api.runtime.db.read() as session:
        assert folders.find_folder(session, environment_id=_env_id(api), path="/application")


def test_the_root_folder_is_never_deleted(api: Api) -> None:
    root = _ensure(api, "/")
    with api.runtime.db.write() as session, pytest.raises(RootFolderImmutable):
        folders.delete_folder(
            session,
            project_id=api.project_id,
            environment="dev",
            path="/",
            folder_id_or_name=root.id,
            force=True,
        )


def test_list_of_an_underscore_folder_does_not_match_like_wildcards(api: Api) -> None:
    _ensure(api, "/a_b/inner")
    _ensure(api, "/axb/other")
    with api.runtime.db.read() as session:
        rows = folders.list_folders(
            session, project_id=api.project_id, environment="dev", path="/a_b", recursive=True
        )
    assert [row.path for row in rows] == ["/a_b/inner"]


def test_two_writers_creating_one_path_end_with_one_folder(api_any_db: Api) -> None:
    api = api_any_db
    env_id = _env_id(api)
    first_made = threading.Event()
    let_first_commit = threading.Event()
    ids: dict[str, str] = {}

    def first() -> None:
        with api.runtime.db.write() as session:
            ids["first"] = folders.ensure_folder(
                session, project_id=api.project_id, environment_id=env_id, path="/race"
            ).id
            first_made.set()
            let_first_commit.wait(timeout=10)

    def second() -> None:
        with api.runtime.db.write() as session:
            ids["second"] = folders.ensure_folder(
                session, project_id=api.project_id, environment_id=env_id, path="/race"
            ).id

    one = threading.Thread(target=first)
    one.start()
    assert first_made.wait(timeout=10)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.5)  # the second writer is now waiting on the first one's uncommitted row
    let_first_commit.set()
    one.join(timeout=10)
    two.join(timeout=10)
    assert ids["first"] == ids["second"]


def test_the_folder_tree_works_on_every_database(api_any_db: Api) -> None:
    api = api_any_db
    _ensure(api, "/a_b/c/d")
    with api.runtime.db.write() as session:
        row = folders.find_folder(session, environment_id=_env_id(api), path="/a_b")
        assert row is not None
        folders.update_folder(session, folder=row, name="renamed", description="moved")
    with api.runtime.db.write() as session:
        folders.delete_folder(
            session,
            project_id=api.project_id,
            environment="dev",
            path="/",
            folder_id_or_name="renamed",
            force=True,
        )
    with api.runtime.db.read() as session:
        left = session.scalars(select(Folder.path).where(Folder.environment_id == _env_id(api)))
        assert list(left) == ["/"]
