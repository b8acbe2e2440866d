"""The connection service: its functions for the rotation engine, its error masking, and
who may make the server connect out when creating a connection."""

from __future__ import annotations

import secrets

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from ldapkeeper.connections import service
from ldapkeeper.connections.errors import ConnectionValidationFailed
from ldapkeeper.connections.schemas import credentials_hash
from ldapkeeper.db.models import AppConnection, ProjectMembership
from ldapkeeper.directory import BindCredentials, DirectoryError
from ldapkeeper.kms.errors import DecryptionFailed
from tests.connections.bodies import create, created_id, error_code, slapd_body
from tests.support.app import Api
from tests.support.blackhole import Blackhole
from tests.support.slapd import SlapdServer

PASSWORD = "  Exact password, spaces kept  "


class EchoingDirectory:
    """A directory whose error message repeats the password: a fault no real server we run
    can be made to show, yet one the masking must survive."""

    def check(self, *, creds: BindCredentials) -> float:
        secret = creds.password.get_secret_value()
        raise DirectoryError("invalid_credentials", f"server said: bad password {secret!r}")


def test_bind_failure_message_masks_the_password() -> None:
    creds = BindCredentials(
        provider="open-ldap", url="ldaps://dc.test", dn="cn=a", password=SecretStr(PASSWORD)
    )
    with pytest.raises(ConnectionValidationFailed) as caught:
        service.validate_by_bind(EchoingDirectory(), creds)  # type: ignore[arg-type]
    assert PASSWORD not in caught.value.message
    assert "*" * 20 in caught.value.message


def test_bind_failure_keeps_the_adapters_code() -> None:
    creds = BindCredentials(
        provider="open-ldap", url="ldaps://dc.test", dn="cn=a", password=SecretStr(PASSWORD)
    )
    with pytest.raises(ConnectionValidationFailed) as caught:
        service.validate_by_bind(EchoingDirectory(), creds)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_credentials"


@pytest.fixture
def stored(api: Api, slapd: SlapdServer) -> str:
    """A connection binding as a user whose password has leading and trailing spaces."""
    dn = slapd.add_user(f"spacey-{secrets.token_hex(4)}", PASSWORD)
    return created_id(
        api.client, api.admin, slapd_body(slapd, api.project_id, dn=dn, password=PASSWORD)
    )


@pytest.mark.slapd
def test_load_credentials_returns_the_password_exactly(api: Api, stored: str) -> None:
    runtime = api.runtime
    with runtime.db.read() as session:
        connection = session.get_one(AppConnection, stored)
        creds = service.load_credentials(session, runtime.keyring, connection)
    assert creds.password.get_secret_value() == PASSWORD


@pytest.mark.slapd
def test_stored_credentials_bind(api: Api, stored: str) -> None:
    runtime = api.runtime
    with runtime.db.read() as session:
        connection = session.get_one(AppConnection, stored)
        creds = service.load_credentials(session, runtime.keyring, connection)
    assert runtime.directory.check(creds=creds) > 0


@pytest.mark.slapd
def test_store_new_password_bumps_version_and_hash(api: Api, stored: str) -> None:
    runtime = api.runtime
    with runtime.db.write() as session:
        connection = session.get_one(AppConnection, stored)
        before = credentials_hash(connection.password_sealed)
        service.store_new_password(session, runtime.keyring, connection, SecretStr("New-pw-9"))
    with runtime.db.read() as session:
        connection = session.get_one(AppConnection, stored)
        creds = service.load_credentials(session, runtime.keyring, connection)
        after = credentials_hash(connection.password_sealed)
    assert (connection.version, creds.password.get_secret_value()) == (2, "New-pw-9")
    assert after != before


@pytest.mark.slapd
def test_sealed_password_does_not_open_in_another_row(
    api: Api, slapd: SlapdServer, stored: str
) -> None:
    other = created_id(api.client, api.admin, slapd_body(slapd, api.project_id, name="other"))
    runtime = api.runtime
    with runtime.db.write() as session:
        source = session.get_one(AppConnection, stored)
        target = session.get_one(AppConnection, other)
        target.password_sealed = source.password_sealed
    with runtime.db.read() as session, pytest.raises(DecryptionFailed):
        service.load_credentials(session, runtime.keyring, session.get_one(AppConnection, other))


class RotatesDuringBind:
    """The real directory, but a rotation stores a new password while the bind runs: a race
    that no real server can be made to hit on cue."""

    def __init__(self, api: Api, connection_id: str, new_password: str) -> None:
        self.api = api
        self.connection_id = connection_id
        self.new_password = new_password
        self.real = api.runtime.directory

    def check(self, *, creds: BindCredentials) -> float:
        latency = self.real.check(creds=creds)
        runtime = self.api.runtime
        with runtime.db.write() as session:
            connection = session.get_one(AppConnection, self.connection_id)
            service.store_new_password(
                session, runtime.keyring, connection, SecretStr(self.new_password)
            )
        return latency


@pytest.mark.slapd
def test_credentials_update_racing_a_rotation_keeps_the_rotated_password(
    api: Api, slapd: SlapdServer, stored: str
) -> None:
    race = RotatesDuringBind(api, stored, "Rotated-pw-5")
    api.runtime.directory = race  # type: ignore[assignment]
    try:
        response = api.client.patch(
            f"/api/v1/app-connections/ldap/{stored}",
            json={"credentials": slapd_body(slapd, None)["credentials"]},
            headers=api.admin,
        )
    finally:
        api.runtime.directory = race.real
    assert (response.status_code, response.json()["details"]["code"]) == (
        400,
        "connection_changed",
    )
    with api.runtime.db.read() as session:
        connection = session.get_one(AppConnection, stored)
        creds = service.load_credentials(session, api.runtime.keyring, connection)
    assert creds.password.get_secret_value() == "Rotated-pw-5"


# -- create: who may make the server connect out ---------------------------------------------


def stored_count(api: Api) -> int:
    with api.runtime.db.read() as session:
        return session.scalar(select(func.count()).select_from(AppConnection)) or 0


@pytest.mark.parametrize("role", ["member", "viewer", "no-access", "none"])
def test_create_refused_by_role_never_reaches_the_directory(
    api: Api, slapd: SlapdServer, blackhole: Blackhole, role: str
) -> None:
    body = slapd_body(slapd, api.project_id, url=blackhole.ldaps_url)
    response = create(api.client, api.identity_with_role(role), body)
    assert response.status_code in (403, 404)
    assert blackhole.accepted == 0


def test_create_in_an_unknown_project_never_reaches_the_directory(
    api: Api, slapd: SlapdServer, blackhole: Blackhole
) -> None:
    body = slapd_body(slapd, "no-such-project", url=blackhole.ldaps_url)
    assert create(api.client, api.admin, body).status_code == 404
    assert blackhole.accepted == 0


@pytest.mark.slapd
@pytest.mark.parametrize("project", ["project", "org"])
def test_create_with_a_taken_name_never_reaches_the_directory(
    api: Api, slapd: SlapdServer, blackhole: Blackhole, project: str
) -> None:
    project_id = api.project_id if project == "project" else None
    created_id(api.client, api.admin, slapd_body(slapd, project_id, name="taken"))
    body = slapd_body(slapd, project_id, name="taken", url=blackhole.ldaps_url)
    response = create(api.client, api.admin, body)
    assert (response.status_code, error_code(response)) == (400, "duplicate_name")
    assert blackhole.accepted == 0


class DemotedDuringBind:
    """The real directory, but the caller's project role drops to viewer while the bind
    runs: the insert must see the new role."""

    def __init__(self, api: Api, identity_id: str) -> None:
        self.api = api
        self.identity_id = identity_id
        self.real = api.runtime.directory

    def check(self, *, creds: BindCredentials) -> float:
        latency = self.real.check(creds=creds)
        with self.api.runtime.db.write() as session:
            session.execute(
                update(ProjectMembership)
                .where(ProjectMembership.identity_id == self.identity_id)
                .values(role="viewer")
            )
        return latency


@pytest.mark.slapd
def test_create_checks_the_role_again_after_the_bind(api: Api, slapd: SlapdServer) -> None:
    headers = api.identity_with_role("admin")
    claims = api.runtime.tokens.verify(headers["Authorization"].removeprefix("Bearer "))
    before = stored_count(api)
    demote = DemotedDuringBind(api, claims.subject_id)
    api.runtime.directory = demote  # type: ignore[assignment]
    try:
        response = create(api.client, headers, slapd_body(slapd, api.project_id))
    finally:
        api.runtime.directory = demote.real
    assert response.status_code == 403
    assert stored_count(api) == before
