import pytest
from sqlalchemy import select

from ldapkeeper.db.models import DataKey, Folder
from ldapkeeper.identity.permissions import OrgRole
from ldapkeeper.identity.principal import Principal
from ldapkeeper.kms.keyring import Scope
from ldapkeeper.projects import service
from ldapkeeper.projects.errors import DuplicateSlug, EnvironmentNotFound, ProjectNotFound
from ldapkeeper.runtime import Runtime


def test_new_project_has_its_own_data_key(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        project = service.create_project(
            session, keyring=runtime.keyring, org_id=runtime.org_id, name="Pay", slug="pay"
        )
        sealed = runtime.keyring.seal(session, Scope.project(project.id), "r", b"value")
        keys = session.scalars(select(DataKey.scope_id).where(DataKey.scope_type == "project"))
        assert project.id in set(keys)
    with runtime.db.read() as session:
        assert runtime.keyring.open(session, Scope.project(project.id), "r", sealed) == b"value"


def test_new_environment_gets_a_root_folder(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        project = service.get_project_by_slug(session, org_id=runtime.org_id, slug="default")
        env = service.create_environment(session, project=project, name="QA", slug="qa")
        folder = session.scalars(select(Folder).where(Folder.environment_id == env.id)).one()
        assert (folder.path, folder.parent_id) == ("/", None)


def test_environments_keep_their_creation_order(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        project = service.get_project_by_slug(session, org_id=runtime.org_id, slug="default")
        service.create_environment(session, project=project, name="QA", slug="qa")
        slugs = [e.slug for e in service.environments(session, project.id)]
    assert slugs == ["dev", "staging", "prod", "qa"]


def test_duplicate_project_slug_is_refused(runtime: Runtime) -> None:
    with runtime.db.write() as session, pytest.raises(DuplicateSlug):
        service.create_project(
            session, keyring=runtime.keyring, org_id=runtime.org_id, name="D", slug="default"
        )


def test_project_of_another_org_is_not_found(runtime: Runtime) -> None:
    with runtime.db.read() as session:
        project = service.get_project_by_slug(session, org_id=runtime.org_id, slug="default")
        with pytest.raises(ProjectNotFound):
            service.get_project(session, org_id="another-org", project_id=project.id)


def test_unknown_environment_is_not_found(runtime: Runtime) -> None:
    with runtime.db.read() as session:
        project = service.get_project_by_slug(session, org_id=runtime.org_id, slug="default")
        with pytest.raises(EnvironmentNotFound):
            service.get_environment(session, project_id=project.id, slug="nope")


def test_org_member_without_membership_sees_no_project(runtime: Runtime) -> None:
    member = Principal("user", "someone", "someone@example.test", runtime.org_id, OrgRole.MEMBER)
    with runtime.db.read() as session:
        assert service.visible_projects(session, member) == []
