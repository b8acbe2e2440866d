"""Rotations against a real OpenLDAP slapd, through the API."""

from tests.support.app import Api
from tests.support.rotations import (
    active_password,
    create_rotation,
    rotation_body,
    slapd_admin_connection,
    stored_secret,
)
from tests.support.slapd import LdapUser, SlapdServer


def test_create_rotates_the_password_at_once(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd)
    create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))
    assert not slapd.can_bind(ldap_user.dn, ldap_user.password)


def test_stored_password_binds_after_create(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd)
    create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))
    assert slapd.can_bind(ldap_user.dn, stored_secret(api, "LDAP_PASSWORD"))


def test_dn_secret_holds_the_target_dn(api: Api, slapd: SlapdServer, ldap_user: LdapUser) -> None:
    connection = slapd_admin_connection(api, slapd)
    create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))
    assert stored_secret(api, "LDAP_DN").lower() == ldap_user.dn.lower()


def test_rotate_now_changes_the_password_again(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd)
    rotation = create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))
    first = stored_secret(api, "LDAP_PASSWORD")
    response = api.client.post(
        f"/api/v2/secret-rotations/ldap-password/{rotation['id']}/rotate-secrets", headers=api.admin
    )
    assert response.status_code == 200, response.text
    second = stored_secret(api, "LDAP_PASSWORD")
    assert second != first
    assert slapd.can_bind(ldap_user.dn, second)
    assert not slapd.can_bind(ldap_user.dn, first)


def test_generated_credentials_flip_between_two_slots(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd)
    rotation = create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))
    assert rotation["activeIndex"] == 0
    response = api.client.post(
        f"/api/v2/secret-rotations/ldap-password/{rotation['id']}/rotate-secrets", headers=api.admin
    )
    assert response.json()["secretRotation"]["activeIndex"] == 1
    assert active_password(api, rotation["id"]) == stored_secret(api, "LDAP_PASSWORD")


def test_history_lists_attempts_without_secrets(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd)
    rotation = create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))
    api.client.post(
        f"/api/v2/secret-rotations/ldap-password/{rotation['id']}/rotate-secrets", headers=api.admin
    )
    response = api.client.get(
        f"/api/v2/secret-rotations/ldap-password/{rotation['id']}/history", headers=api.admin
    )
    history = response.json()["history"]
    assert [h["status"] for h in history] == ["success", "success"]
    assert stored_secret(api, "LDAP_PASSWORD") not in response.text


def test_target_principal_changes_its_own_password(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    connection = slapd_admin_connection(api, slapd)
    body = rotation_body(
        api,
        connection["id"],
        ldap_user.dn,
        method="target-principal",
        temporary_password=ldap_user.password,
    )
    create_rotation(api, body)
    assert slapd.can_bind(ldap_user.dn, stored_secret(api, "LDAP_PASSWORD"))
    assert not slapd.can_bind(ldap_user.dn, ldap_user.password)
