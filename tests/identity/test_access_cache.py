import time
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, text
from tests.support.app import CLIENT_ID, CLIENT_SECRET

from ldapkeeper.audit.service import RequestContext
from ldapkeeper.db.models import ClientSecret, MachineIdentity, ProjectMembership
from ldapkeeper.identity import service
from ldapkeeper.identity.access_cache import ACCESS_CACHE_SECONDS, AccessCache, token_digest
from ldapkeeper.identity.errors import InvalidToken
from ldapkeeper.identity.logins import login_universal_auth
from ldapkeeper.identity.permissions import OrgRole, ProjectRole
from ldapkeeper.identity.principal import Principal
from ldapkeeper.projects.errors import ProjectNotFound
from ldapkeeper.projects.service import create_project
from ldapkeeper.runtime import Runtime


class Clock:
    """A hand-moved clock (monotonic and wall seconds)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    runtime: Runtime
    cache: AccessCache
    clock: Clock
    wall: Clock


@pytest.fixture
def world(runtime_any_db: Runtime) -> World:
    clock, wall = Clock(), Clock()
    wall.now = time.time()  # tokens issued now are valid until a test moves it
    cache = AccessCache(runtime_any_db.db, clock=clock, wall_clock=wall)
    return World(runtime_any_db, cache, clock, wall)


def _bot_token(world: World, org_role: OrgRole = OrgRole.MEMBER) -> tuple[str, Principal, str]:
    """A machine identity's token, its principal and its client secret's id."""
    runtime = world.runtime
    with runtime.db.write() as session:
        identity = service.create_identity(
            session, org_id=runtime.org_id, name="bot", org_role=org_role
        )
        created = service.create_client_secret(session, identity_id=identity.id)
        principal = Principal("identity", identity.id, "bot", runtime.org_id, org_role)
        identity_id, secret_id, secret = identity.id, created.row.id, created.secret
    issued = login_universal_auth(
        db=runtime.db,
        tokens=runtime.tokens,
        policy=runtime.login_policy,
        client_id=_client_id(world, identity_id),
        client_secret=secret,
        context=RequestContext(),
    )
    return issued.access_token, principal, secret_id


def _client_id(world: World, identity_id: str) -> str:
    with world.runtime.db.read() as session:
        identity = session.get(MachineIdentity, identity_id)
        assert identity is not None
        return identity.client_id


def _principal(world: World, token: str) -> Principal:
    return world.cache.principal(token, world.runtime.tokens.verify)


def _revoke_elsewhere(world: World, secret_id: str) -> None:
    """What another process does: a write this process's sessions never see."""
    with world.runtime.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE client_secrets SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id"),
            {"id": secret_id},
        )


def _project(world: World, slug: str) -> str:
    runtime = world.runtime
    with runtime.db.write() as session:
        project = create_project(
            session, keyring=runtime.keyring, org_id=runtime.org_id, name=slug, slug=slug
        )
        return project.id


def _set_role(world: World, principal: Principal, project_id: str, role: ProjectRole) -> None:
    with world.runtime.db.write() as session:
        service.set_membership(session, project_id=project_id, role=role, identity_id=principal.id)


# --- principals --------------------------------------------------------------------------------


def test_a_token_resolves_to_its_live_principal(world: World) -> None:
    token, principal, _ = _bot_token(world)
    assert _principal(world, token) == principal


def test_a_seen_token_is_served_without_a_lookup(world: World) -> None:
    token, principal, _ = _bot_token(world)
    assert world.cache.cached_principal(token) is None
    _principal(world, token)
    assert world.cache.cached_principal(token) == principal


def test_a_change_in_another_process_is_seen_once_the_ttl_is_over(world: World) -> None:
    token, principal, secret_id = _bot_token(world)
    _principal(world, token)
    _revoke_elsewhere(world, secret_id)
    assert _principal(world, token) == principal  # within the TTL: still the cached caller
    world.clock.now += ACCESS_CACHE_SECONDS
    with pytest.raises(InvalidToken):
        _principal(world, token)


def test_revoking_a_client_secret_in_this_process_takes_effect_at_once(world: World) -> None:
    token, _, secret_id = _bot_token(world)
    _principal(world, token)
    with world.runtime.db.write() as session:
        row = session.get(ClientSecret, secret_id)
        assert row is not None
        service.revoke_client_secret(session, identity_id=row.identity_id, secret_id=secret_id)
    assert world.cache.cached_principal(token) is None
    with pytest.raises(InvalidToken):
        _principal(world, token)


def test_a_lookup_made_before_a_change_commits_is_not_kept(world: World) -> None:
    token, _, secret_id = _bot_token(world)
    with world.runtime.db.write() as session:
        row = session.get(ClientSecret, secret_id)
        assert row is not None
        service.revoke_client_secret(session, identity_id=row.identity_id, secret_id=secret_id)
        # Flushed, not committed: a lookup now still reads the secret as live.
        _principal(world, token)
    assert world.cache.cached_principal(token) is None
    with pytest.raises(InvalidToken):
        _principal(world, token)


def test_an_expired_token_is_not_served_from_the_cache(world: World) -> None:
    token, _, _ = _bot_token(world)
    _principal(world, token)
    claims = world.runtime.tokens.verify(token)
    world.wall.now = claims.expires_at.timestamp()
    assert world.cache.cached_principal(token) is None


def test_an_invalid_token_is_not_cached(world: World) -> None:
    token, _, secret_id = _bot_token(world)
    _revoke_elsewhere(world, secret_id)
    with pytest.raises(InvalidToken):
        _principal(world, token)
    assert world.cache.cached_principal(token) is None


def test_tokens_are_keyed_by_digest_not_kept() -> None:
    assert token_digest("a.b.c") != token_digest("a.b.d")
    assert b"a.b.c" not in token_digest("a.b.c")


def test_the_bootstrap_client_logs_in_and_resolves(world: World) -> None:
    runtime = world.runtime
    issued = login_universal_auth(
        db=runtime.db,
        tokens=runtime.tokens,
        policy=runtime.login_policy,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        context=RequestContext(),
    )
    assert _principal(world, issued.access_token).is_org_admin


# --- projects and roles -----------------------------------------------------------------------


def test_a_membership_set_in_this_process_takes_effect_at_once(world: World) -> None:
    _, principal, _ = _bot_token(world)
    project_id = _project(world, "alpha")
    assert world.cache.role(principal, project_id) is ProjectRole.NO_ACCESS
    _set_role(world, principal, project_id, ProjectRole.MEMBER)
    assert world.cache.role(principal, project_id) is ProjectRole.MEMBER


def test_memberships_deleted_by_a_statement_take_effect_at_once(world: World) -> None:
    _, principal, _ = _bot_token(world)
    project_id = _project(world, "alpha")
    _set_role(world, principal, project_id, ProjectRole.ADMIN)
    assert world.cache.role(principal, project_id) is ProjectRole.ADMIN
    with world.runtime.db.write() as session:
        session.execute(delete(ProjectMembership).where(ProjectMembership.project_id == project_id))
    assert world.cache.role(principal, project_id) is ProjectRole.NO_ACCESS


def test_a_role_changed_in_another_process_is_seen_once_the_ttl_is_over(world: World) -> None:
    _, principal, _ = _bot_token(world)
    project_id = _project(world, "alpha")
    _set_role(world, principal, project_id, ProjectRole.ADMIN)
    assert world.cache.role(principal, project_id) is ProjectRole.ADMIN
    with world.runtime.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE project_memberships SET role = 'viewer' WHERE project_id = :p"),
            {"p": project_id},
        )
    assert world.cache.role(principal, project_id) is ProjectRole.ADMIN
    world.clock.now += ACCESS_CACHE_SECONDS
    assert world.cache.role(principal, project_id) is ProjectRole.VIEWER


def test_a_project_id_is_remembered_until_a_project_changes(world: World) -> None:
    project_id = _project(world, "alpha")
    org_id = world.runtime.org_id
    calls: list[str] = []

    def resolve(session: object) -> str:
        calls.append(project_id)
        return project_id

    assert world.cache.project_id(org_id, project_id, None, resolve) == project_id
    assert world.cache.project_id(org_id, project_id, None, resolve) == project_id
    assert len(calls) == 1
    _project(world, "beta")  # any project written in this process forgets them
    assert world.cache.project_id(org_id, project_id, None, resolve) == project_id
    assert len(calls) == 2


def test_an_unknown_project_is_not_remembered(world: World) -> None:
    org_id = world.runtime.org_id
    calls: list[int] = []

    def resolve(session: object) -> str:
        calls.append(1)
        raise ProjectNotFound()

    for _ in range(2):
        with pytest.raises(ProjectNotFound):
            world.cache.project_id(org_id, "missing", None, resolve)
    assert len(calls) == 2
