"""Create binds to the real directory first: every transport, and every failure's code."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connections.bodies import create, error_code, ldap_body, seed_body, slapd_body
from tests.support.app import Api, build_api
from tests.support.blackhole import Blackhole, closed_port
from tests.support.certs import Pki
from tests.support.samba import AdUser, SambaServer
from tests.support.slapd import LdapUser, SlapdServer

pytestmark = pytest.mark.slapd

MASK = "*" * 20


@pytest.fixture
def quick_api(tmp_path: Path, sqlite_url: str) -> Iterator[Api]:
    """The app with a 2 s LDAP timeout (timeout tests)."""
    harness = build_api(tmp_path / "quick", sqlite_url, ldap_timeout_seconds=2.0)
    yield harness
    harness.client.close()
    harness.runtime.db.dispose()


@pytest.fixture
def guarded_api(tmp_path: Path, sqlite_url: str) -> Iterator[Api]:
    """The app with the default network policy: no internal address is allowed."""
    harness = build_api(tmp_path / "guarded", sqlite_url, allowed_networks=[])
    yield harness
    harness.client.close()
    harness.runtime.db.dispose()


def count_connections(api: Api) -> int:
    response = api.client.get(
        "/api/v1/app-connections/ldap", params={"projectId": api.project_id}, headers=api.admin
    )
    return len(response.json()["appConnections"])


def test_seed_sample_request_creates_the_connection(api: Api, slapd: SlapdServer) -> None:
    response = create(api.client, api.admin, seed_body(slapd, api.project_id))
    assert response.status_code == 200, response.text
    assert response.json()["appConnection"]["credentials"]["provider"] == "active-directory"


def test_plain_ldap_url_binds(api: Api, slapd: SlapdServer, ldap_user: LdapUser) -> None:
    body = ldap_body(
        name="plain",
        project_id=api.project_id,
        url=slapd.ldap_url,
        dn=ldap_user.dn,
        password=ldap_user.password,
    )
    assert create(api.client, api.admin, body).status_code == 200


def test_starttls_binds_with_the_ca(api: Api, slapd: SlapdServer) -> None:
    body = slapd_body(slapd, api.project_id, url=slapd.ldap_url, startTls=True)
    response = create(api.client, api.admin, body)
    assert response.status_code == 200, response.text
    assert response.json()["appConnection"]["credentials"]["startTls"] is True


def test_ldaps_without_the_ca_is_a_tls_error(api: Api, slapd: SlapdServer) -> None:
    response = create(api.client, api.admin, slapd_body(slapd, api.project_id, ca_pem=None))
    assert (response.status_code, error_code(response)) == (400, "tls_error")


def test_ldaps_with_an_unrelated_ca_is_a_tls_error(api: Api, slapd: SlapdServer, pki: Pki) -> None:
    body = slapd_body(slapd, api.project_id, ca_pem=pki.other_ca.cert_pem)
    response = create(api.client, api.admin, body)
    assert (response.status_code, error_code(response)) == (400, "tls_error")


def test_certificate_for_another_host_is_a_tls_error(api: Api, slapd: SlapdServer) -> None:
    response = create(
        api.client, api.admin, slapd_body(slapd, api.project_id, url=slapd.url_wrong_host)
    )
    assert (response.status_code, error_code(response)) == (400, "tls_error")


def test_wrong_password_is_invalid_credentials(api: Api, slapd: SlapdServer) -> None:
    body = slapd_body(slapd, api.project_id, password="not-the-password-Zq81")
    response = create(api.client, api.admin, body)
    assert (response.status_code, error_code(response)) == (400, "invalid_credentials")
    assert response.json()["message"].startswith("Unable to validate connection: ")


def test_failed_bind_stores_nothing(api: Api, slapd: SlapdServer) -> None:
    create(api.client, api.admin, slapd_body(slapd, api.project_id, password="wrong-Zq81"))
    assert count_connections(api) == 0


def test_closed_port_is_connection_refused(api: Api, slapd: SlapdServer) -> None:
    url = f"ldap://127.0.0.1:{closed_port()}"
    response = create(api.client, api.admin, slapd_body(slapd, api.project_id, url=url))
    assert (response.status_code, error_code(response)) == (400, "connection_refused")


def test_silent_ldaps_server_times_out_within_the_bound(
    quick_api: Api, slapd: SlapdServer, blackhole: Blackhole
) -> None:
    body = slapd_body(slapd, quick_api.project_id, url=blackhole.ldaps_url)
    began = time.monotonic()
    response = create(quick_api.client, quick_api.admin, body)
    elapsed = time.monotonic() - began
    assert (response.status_code, error_code(response)) == (400, "timeout")
    assert elapsed < 2.0 * 2 + 1.0


def test_failover_url_is_used_when_the_first_is_down(api: Api, slapd: SlapdServer) -> None:
    dead = f"ldaps://127.0.0.1:{closed_port()}"
    body = slapd_body(slapd, api.project_id, url=dead, failoverUrls=[slapd.ldaps_url])
    response = create(api.client, api.admin, body)
    assert response.status_code == 200, response.text
    assert response.json()["appConnection"]["credentials"]["failoverUrls"] == [slapd.ldaps_url]


def test_loopback_is_refused_by_default(guarded_api: Api, slapd: SlapdServer) -> None:
    body = slapd_body(slapd, guarded_api.project_id, url=slapd.ldap_url, ca_pem=None)
    response = create(guarded_api.client, guarded_api.admin, body)
    assert (response.status_code, error_code(response)) == (400, "blocked_address")


def test_bind_does_not_hold_the_database_write_lock(
    quick_api: Api, slapd: SlapdServer, blackhole: Blackhole
) -> None:
    body = slapd_body(slapd, quick_api.project_id, url=blackhole.ldaps_url)
    worker = threading.Thread(target=create, args=(quick_api.client, quick_api.admin, body))
    worker.start()
    while blackhole.accepted == 0 and worker.is_alive():
        time.sleep(0.01)
    began = time.monotonic()
    with quick_api.runtime.db.write():
        waited = time.monotonic() - began
    worker.join()
    assert waited < 0.5


@pytest.mark.samba
def test_active_directory_upn_binds(api: Api, samba_ad: SambaServer, samba_user: AdUser) -> None:
    body = ldap_body(
        name="corp-ad",
        project_id=api.project_id,
        provider="active-directory",
        url=samba_ad.ldaps_url,
        dn=samba_user.upn,
        password=samba_user.password,
        ca_pem=samba_ad.ca_pem,
    )
    response = create(api.client, api.admin, body)
    assert response.status_code == 200, response.text
    assert response.json()["appConnection"]["credentials"]["dn"] == samba_user.upn


@pytest.mark.samba
def test_disabled_ad_account_is_said_in_words(
    api: Api, samba_ad: SambaServer, samba_user: AdUser
) -> None:
    samba_ad.disable_user(samba_user.sam)
    body = ldap_body(
        name="corp-ad",
        project_id=api.project_id,
        provider="active-directory",
        url=samba_ad.ldaps_url,
        dn=samba_user.dn,
        password=samba_user.password,
        ca_pem=samba_ad.ca_pem,
    )
    response = create(api.client, api.admin, body)
    assert (response.status_code, error_code(response)) == (400, "invalid_credentials")
    assert "disabled" in response.json()["message"].lower()


@pytest.mark.samba
def test_ad_must_change_password_is_said_in_words(
    api: Api, samba_ad: SambaServer, samba_user: AdUser
) -> None:
    samba_ad.set_must_change_password(samba_user.sam)
    body = ldap_body(
        name="corp-ad",
        project_id=api.project_id,
        provider="active-directory",
        url=samba_ad.ldaps_url,
        dn=samba_user.dn,
        password=samba_user.password,
        ca_pem=samba_ad.ca_pem,
    )
    response = create(api.client, api.admin, body)
    assert (response.status_code, error_code(response)) == (400, "invalid_credentials")
    assert "must reset password" in response.json()["message"]
