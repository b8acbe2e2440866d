"""The unmodified ``infisicalsdk`` client reads a rotated password, and it binds."""

from __future__ import annotations

from infisical_sdk import InfisicalSDKClient
from tests.support.app import CLIENT_ID, CLIENT_SECRET, LiveServer
from tests.support.rotations import create_rotation, rotation_body, slapd_admin_connection
from tests.support.slapd import LdapUser, SlapdServer


def sdk_password(server: LiveServer) -> str:
    client = InfisicalSDKClient(host=server.url, cache_ttl=None)
    try:
        client.auth.universal_auth.login(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        secret = client.secrets.get_secret_by_name(
            secret_name="LDAP_PASSWORD",
            project_id=server.api.project_id,
            environment_slug="dev",
            secret_path="/ldap",
        )
    finally:
        client.close()
    value: str = secret.secretValue
    return value


def test_sdk_reads_the_rotated_password_and_it_binds(
    live_server: LiveServer, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    api = live_server.api
    connection = slapd_admin_connection(api, slapd)
    create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))
    assert slapd.can_bind(ldap_user.dn, sdk_password(live_server))


def test_sdk_reads_the_password_of_the_latest_rotation(
    live_server: LiveServer, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    api = live_server.api
    connection = slapd_admin_connection(api, slapd)
    rotation = create_rotation(api, rotation_body(api, connection["id"], ldap_user.dn))
    first = sdk_password(live_server)
    response = api.client.post(
        f"/api/v2/secret-rotations/ldap-password/{rotation['id']}/rotate-secrets",
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    second = sdk_password(live_server)
    assert second != first
    assert slapd.can_bind(ldap_user.dn, second)
