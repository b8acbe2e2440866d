import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.support.app import ADMIN_PASSWORD, CLIENT_SECRET
from tests.support.database import sqlite_file_bytes

from ldapkeeper.db.models import ClientSecret, Organization, Project, User
from ldapkeeper.identity import service
from ldapkeeper.identity.errors import DuplicateIdentity, IdentityNotFound, InvalidToken
from ldapkeeper.identity.permissions import OrgRole, ProjectRole
from ldapkeeper.identity.principal import Principal
from ldapkeeper.projects.service import create_project
from ldapkeeper.runtime import Runtime


def _user(session: Session, runtime: Runtime, email: str, role: OrgRole) -> Principal:
    user = service.create_user(
        session, org_id=runtime.org_id, email=email, password="a-long-password", org_role=role
    )
    return Principal("user", user.id, user.email, runtime.org_id, role)


def _identity(session: Session, runtime: Runtime, role: OrgRole = OrgRole.MEMBER) -> Principal:
    identity = service.create_identity(session, org_id=runtime.org_id, name="bot", org_role=role)
    return Principal("identity", identity.id, identity.name, runtime.org_id, role)


def _project(session: Session, runtime: Runtime, slug: str, org_id: str | None = None) -> str:
    project = create_project(
        session, keyring=runtime.keyring, org_id=org_id or runtime.org_id, name=slug, slug=slug
    )
    return project.id


def test_client_secret_is_stored_only_as_a_digest(runtime_any_db: Runtime) -> None:
    with runtime_any_db.db.read() as session:
        hashes = list(session.scalars(select(ClientSecret.secret_hash)))
    assert hashes == [service.client_secret_digest(CLIENT_SECRET)]
    assert CLIENT_SECRET not in hashes[0]


def test_client_secret_and_admin_password_never_appear_in_the_database_file(
    runtime: Runtime,
) -> None:
    raw = sqlite_file_bytes(runtime.settings.effective_database_url)
    assert CLIENT_SECRET.encode() not in raw
    assert ADMIN_PASSWORD.encode() not in raw


def test_generated_client_secret_is_256_random_bits_shown_with_a_prefix(
    runtime: Runtime,
) -> None:
    with runtime.db.write() as session:
        identity = _identity(session, runtime)
        first = service.create_client_secret(session, identity_id=identity.id)
        second = service.create_client_secret(session, identity_id=identity.id)
    assert len(first.secret) == 64
    assert first.secret != second.secret
    assert first.row.prefix == first.secret[:4]


def test_short_chosen_client_secret_shows_no_prefix(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        identity = _identity(session, runtime)
        created = service.create_client_secret(session, identity_id=identity.id, secret="short")
    assert created.row.prefix == ""


def test_new_client_secret_authenticates_its_identity(runtime_any_db: Runtime) -> None:
    with runtime_any_db.db.write() as session:
        identity = service.create_identity(
            session, org_id=runtime_any_db.org_id, name="bot", org_role=OrgRole.MEMBER
        )
        created = service.create_client_secret(session, identity_id=identity.id)
    with runtime_any_db.db.read() as session:
        found = service.authenticate_client(
            session, client_id=identity.client_id, client_secret=created.secret
        )
    assert found is not None
    assert (found[0].id, found[1].id) == (identity.id, created.row.id)


def test_revoked_client_secret_no_longer_authenticates(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        identity = service.create_identity(
            session, org_id=runtime.org_id, name="bot", org_role=OrgRole.MEMBER
        )
        created = service.create_client_secret(session, identity_id=identity.id)
        service.revoke_client_secret(session, identity_id=identity.id, secret_id=created.row.id)
    with runtime.db.read() as session:
        assert (
            service.authenticate_client(
                session, client_id=identity.client_id, client_secret=created.secret
            )
            is None
        )


def test_revoking_a_client_secret_invalidates_tokens_issued_with_it(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        identity = _identity(session, runtime)
        created = service.create_client_secret(session, identity_id=identity.id)
    token = runtime.tokens.issue(
        kind="identity", subject_id=identity.id, ttl_seconds=60, secret_id=created.row.id
    )
    claims = runtime.tokens.verify(token)
    with runtime.db.read() as session:
        assert service.principal_from_claims(session, claims).id == identity.id
    with runtime.db.write() as session:
        service.revoke_client_secret(session, identity_id=identity.id, secret_id=created.row.id)
    with runtime.db.read() as session, pytest.raises(InvalidToken):
        service.principal_from_claims(session, claims)


def test_revoking_another_identitys_secret_is_not_found(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        owner = _identity(session, runtime)
        other = _identity(session, runtime)
        created = service.create_client_secret(session, identity_id=owner.id)
        with pytest.raises(IdentityNotFound):
            service.revoke_client_secret(session, identity_id=other.id, secret_id=created.row.id)


def test_token_of_a_deleted_user_is_refused(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        principal = _user(session, runtime, "gone@example.test", OrgRole.MEMBER)
    claims = runtime.tokens.verify(
        runtime.tokens.issue(kind="user", subject_id=principal.id, ttl_seconds=60)
    )
    with runtime.db.write() as session:
        user = session.get(User, principal.id)
        session.delete(user)
    with runtime.db.read() as session, pytest.raises(InvalidToken):
        service.principal_from_claims(session, claims)


def test_duplicate_user_email_is_refused_whatever_its_case(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        _user(session, runtime, "dup@example.test", OrgRole.MEMBER)
        with pytest.raises(DuplicateIdentity):
            _user(session, runtime, " DUP@example.test", OrgRole.MEMBER)


def test_duplicate_client_id_is_refused(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        service.create_identity(
            session, org_id=runtime.org_id, name="a", org_role=OrgRole.MEMBER, client_id="fixed"
        )
        with pytest.raises(DuplicateIdentity):
            service.create_identity(
                session,
                org_id=runtime.org_id,
                name="b",
                org_role=OrgRole.MEMBER,
                client_id="fixed",
            )


def test_org_admin_is_admin_of_every_project(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        admin = _user(session, runtime, "boss@example.test", OrgRole.ADMIN)
        project_id = _project(session, runtime, "other")
        assert service.project_role(session, admin, project_id) is ProjectRole.ADMIN


@pytest.mark.parametrize("role", list(ProjectRole), ids=[r.value for r in ProjectRole])
def test_member_has_the_role_of_their_membership(runtime: Runtime, role: ProjectRole) -> None:
    with runtime.db.write() as session:
        member = _user(session, runtime, "member@example.test", OrgRole.MEMBER)
        project_id = _project(session, runtime, "team")
        service.set_membership(session, project_id=project_id, role=role, user_id=member.id)
        assert service.project_role(session, member, project_id) is role


@pytest.mark.parametrize("role", list(ProjectRole), ids=[r.value for r in ProjectRole])
def test_identity_has_the_role_of_its_membership(runtime: Runtime, role: ProjectRole) -> None:
    with runtime.db.write() as session:
        identity = _identity(session, runtime)
        project_id = _project(session, runtime, "team")
        service.set_membership(session, project_id=project_id, role=role, identity_id=identity.id)
        assert service.project_role(session, identity, project_id) is role


def test_member_without_membership_has_no_access(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        member = _user(session, runtime, "member@example.test", OrgRole.MEMBER)
        project_id = _project(session, runtime, "team")
        assert service.project_role(session, member, project_id) is ProjectRole.NO_ACCESS


def test_membership_in_one_project_gives_nothing_in_another(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        member = _user(session, runtime, "member@example.test", OrgRole.MEMBER)
        project_a = _project(session, runtime, "project-a")
        project_b = _project(session, runtime, "project-b")
        service.set_membership(
            session, project_id=project_a, role=ProjectRole.ADMIN, user_id=member.id
        )
        assert service.project_role(session, member, project_b) is ProjectRole.NO_ACCESS


def test_setting_a_membership_again_replaces_the_role(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        member = _user(session, runtime, "member@example.test", OrgRole.MEMBER)
        project_id = _project(session, runtime, "team")
        for role in (ProjectRole.ADMIN, ProjectRole.VIEWER):
            service.set_membership(session, project_id=project_id, role=role, user_id=member.id)
        assert service.project_role(session, member, project_id) is ProjectRole.VIEWER


def test_org_admin_has_no_access_to_a_project_of_another_org(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        admin = _user(session, runtime, "boss@example.test", OrgRole.ADMIN)
        other_org = Organization(name="elsewhere")
        session.add(other_org)
        session.flush()
        project_id = _project(session, runtime, "foreign", org_id=other_org.id)
        assert session.get(Project, project_id) is not None
        assert service.project_role(session, admin, project_id) is ProjectRole.NO_ACCESS


def test_unknown_project_gives_no_access(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        admin = _user(session, runtime, "boss@example.test", OrgRole.ADMIN)
        assert service.project_role(session, admin, "no-such-project") is ProjectRole.NO_ACCESS
