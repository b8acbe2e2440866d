"""``RotationEngine.run_unclaimed``: the lease taken with the attempt's first commit, and
declined (nothing changed) whenever that would be unsafe. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.support.app import Api
from tests.support.rotations import (
    Scheduling,
    active_password,
    build_scheduling,
    create_rotation,
    rotation_body,
    slapd_admin_connection,
)
from tests.support.slapd import LdapUser, SlapdServer

from ldapkeeper.db.models import RotationAttempt, SecretRotation
from ldapkeeper.db.reads import read_session
from ldapkeeper.rotations.engine import Loaded


@pytest.fixture
def sched(api_any_db: Api) -> Iterator[Scheduling]:
    built = build_scheduling(api_any_db)
    yield built
    built.worker.stop()


def _rotation(sched: Scheduling, slapd: SlapdServer, user: LdapUser) -> str:
    connection = slapd_admin_connection(sched.api, slapd)
    rotation = create_rotation(sched.api, rotation_body(sched.api, connection["id"], user.dn))
    return str(rotation["id"])


def _load(sched: Scheduling, rotation_id: str) -> Loaded:
    with read_session(sched.api.runtime.db) as session:
        loaded = sched.engine.load(session, rotation_id)
    assert loaded is not None
    return loaded


def _attempts(sched: Scheduling, rotation_id: str) -> int:
    with sched.api.runtime.db.read() as session:
        count = session.scalar(
            select(func.count()).where(RotationAttempt.rotation_id == rotation_id)
        )
    return int(count or 0)


def test_run_unclaimed_commits_a_password_that_binds(
    sched: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation_id = _rotation(sched, slapd, ldap_user)
    outcome = sched.engine.run_unclaimed(_load(sched, rotation_id), "mine", manual=True)
    assert outcome is not None
    assert outcome.ok
    assert slapd.can_bind(ldap_user.dn, active_password(sched.api, rotation_id))


def test_run_unclaimed_ends_the_lease_it_took(
    sched: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation_id = _rotation(sched, slapd, ldap_user)
    sched.engine.run_unclaimed(_load(sched, rotation_id), "mine", manual=True)
    assert sched.row(rotation_id).lease_owner is None


def test_run_unclaimed_declines_a_lease_taken_after_the_read(
    sched: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation_id = _rotation(sched, slapd, ldap_user)
    loaded = _load(sched, rotation_id)
    assert sched.engine.claim(rotation_id, "other")
    before = _attempts(sched, rotation_id)
    assert sched.engine.run_unclaimed(loaded, "mine", manual=True) is None
    assert (sched.row(rotation_id).lease_owner, _attempts(sched, rotation_id)) == (
        "other",
        before,
    )


def test_run_unclaimed_declines_an_attempt_left_unfinished_after_the_read(
    sched: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation_id = _rotation(sched, slapd, ldap_user)
    password = active_password(sched.api, rotation_id)
    loaded = _load(sched, rotation_id)
    # Another holder of the lease began an attempt and let the lease go, unfinished.
    with sched.api.runtime.db.write() as session:
        session.add(
            RotationAttempt(
                rotation_id=rotation_id,
                state="pending",
                method="reset",
                pending_password_sealed=b"sealed elsewhere",
                directory_touched=True,
            )
        )
    before = _attempts(sched, rotation_id)
    assert sched.engine.run_unclaimed(loaded, "mine", manual=True) is None
    assert (sched.row(rotation_id).lease_owner, _attempts(sched, rotation_id)) == (None, before)
    assert slapd.can_bind(ldap_user.dn, password)


def test_run_unclaimed_declines_a_held_lease_without_trying(
    sched: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation_id = _rotation(sched, slapd, ldap_user)
    assert sched.engine.claim(rotation_id, "other")
    loaded = _load(sched, rotation_id)
    assert sched.engine.run_unclaimed(loaded, "mine", manual=True) is None
    with sched.api.runtime.db.read() as session:
        rotation = session.get(SecretRotation, rotation_id)
    assert rotation is not None
    assert rotation.lease_owner == "other"


def test_rotate_now_answers_the_rotation_as_read_after_it(
    api_any_db: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    api = api_any_db
    connection = slapd_admin_connection(api, slapd)
    rotation = create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))
    url = f"/api/v2/secret-rotations/ldap-password/{rotation['id']}"
    answered = api.client.post(f"{url}/rotate-secrets", headers=api.admin)
    assert answered.status_code == 200, answered.text
    read = api.client.get(url, headers=api.admin)
    assert answered.json() == read.json()


def test_a_connection_being_read_again_answers_from_the_expired_entry(
    sched: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    engine = sched.engine
    connection_id = _load(sched, _rotation(sched, slapd, ldap_user)).connection_id
    engine._self_cache[connection_id] = (0.0, frozenset({"remembered"}))  # expired
    engine._self_refreshing.add(connection_id)  # another thread is reading it again
    # No query: the session is never used.
    assert engine._self_rotations(cast(Session, None), connection_id) == frozenset({"remembered"})
