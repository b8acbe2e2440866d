"""Rotation sends passwords only over LDAPS or StartTLS."""

from __future__ import annotations

from tests.support.app import Api
from tests.support.rotations import (
    create_connection,
    create_rotation,
    rotation_body,
    stored_secret,
)
from tests.support.slapd import LdapUser, SlapdServer

ROTATIONS = "/api/v2/secret-rotations/ldap-password"


def plain_connection_id(api: Api, slapd: SlapdServer, *, start_tls: bool) -> str:
    connection = create_connection(
        api,
        url=slapd.ldap_url,
        dn=slapd.admin_dn,
        password=slapd.admin_password,
        ca_pem=slapd.ca_pem,
        start_tls=start_tls,
    )
    connection_id: str = connection["id"]
    return connection_id


def test_plain_ldap_without_starttls_is_refused(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection_id = plain_connection_id(api, slapd, start_tls=False)
    response = api.client.post(
        ROTATIONS, json=rotation_body(api, connection_id, ldap_user.dn), headers=api.admin
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Password rotation requires an LDAPS or StartTLS connection"
    )


def test_refused_plain_ldap_rotation_changes_nothing(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection_id = plain_connection_id(api, slapd, start_tls=False)
    api.client.post(
        ROTATIONS, json=rotation_body(api, connection_id, ldap_user.dn), headers=api.admin
    )
    listed = api.client.get(ROTATIONS, params={"projectId": api.project_id}, headers=api.admin)
    assert listed.json()["secretRotations"] == []
    assert slapd.can_bind(ldap_user.dn, ldap_user.password)


def test_starttls_connection_rotates(api: Api, slapd: SlapdServer, ldap_user: LdapUser) -> None:
    connection_id = plain_connection_id(api, slapd, start_tls=True)
    create_rotation(api, rotation_body(api, connection_id, ldap_user.dn))
    assert slapd.can_bind(ldap_user.dn, stored_secret(api, "LDAP_PASSWORD"))
    assert not slapd.can_bind(ldap_user.dn, ldap_user.password)
