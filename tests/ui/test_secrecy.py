"""No page ever shows a password other than a generated credential the user chose to reveal:
a canary bind password goes through every connection page and form, right and wrong."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from tests.support.app import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.support.slapd import LdapUser, SlapdServer
from tests.ui.support import browser_client, connections_url, csrf_of, ui_login

pytestmark = pytest.mark.slapd


def ldap_form(slapd: SlapdServer, *, name: str, dn: str, password: str) -> dict[str, str]:
    return {
        "name": name,
        "method": "simple-bind",
        "credentials.provider": "open-ldap",
        "credentials.url": slapd.ldaps_url,
        "credentials.dn": dn,
        "credentials.password": password,
        "credentials.sslCertificate": slapd.ca_pem,
        "credentials.sslRejectUnauthorized": "true",
    }


def post(client: TestClient, url: str, form: dict[str, str], *, htmx: bool = False) -> str:
    token = csrf_of(client.get(connections_url_of(url)).text)
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post(url, data={**form, "csrf_token": token}, headers=headers)
    return str(response.text)


def connections_url_of(url: str) -> str:
    """The connections list of the project a UI URL belongs to (a page with a form token)."""
    project = url.split("/projects/")[1].split("/")[0]
    return f"/projects/{project}/integrations/app-connections"


def test_bind_password_never_appears_in_a_page(api: Api, slapd: SlapdServer) -> None:
    canary = f"Canary-{secrets.token_hex(8)}"
    dn = slapd.add_user(f"canary-{secrets.token_hex(4)}", canary)
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    pages: list[str] = []
    create = connections_url(api, "/ldap")

    pages.append(post(client, create, ldap_form(slapd, name="wrong", dn=dn, password=canary + "x")))
    assert "Unable to validate connection:" in pages[-1]
    pages.append(post(client, create, ldap_form(slapd, name="Bad Name", dn=dn, password=canary)))
    assert "must be a slug" in pages[-1]
    for htmx in (False, True):
        form = ldap_form(slapd, name="wrong-htmx", dn=dn, password=canary + "x")
        pages.append(post(client, create, form, htmx=htmx))
    response = client.post(
        create,
        data={
            **ldap_form(slapd, name="canary", dn=dn, password=canary),
            "csrf_token": _token(client, api),
        },
    )
    pages.append(response.text)
    assert response.status_code == 200
    assert "is connected and ready to use" in response.text
    listed = api.client.get(
        "/api/v1/app-connections/ldap", params={"projectId": api.project_id}, headers=api.admin
    ).json()["appConnections"]
    [connection] = listed
    cid = connection["id"]

    for path in ["", "/new", "/new/ldap", f"/{cid}/edit", f"/{cid}/delete"]:
        for headers in ({}, {"HX-Request": "true"}):
            pages.append(client.get(connections_url(api, path), headers=headers).text)
    for path in ["/secret-rotations", "/secret-rotations/new", "/secrets"]:
        pages.append(client.get(f"/projects/{api.project_id}{path}").text)
    for htmx in (False, True):
        pages.append(post(client, connections_url(api, f"/{cid}/check"), {}, htmx=htmx))
    edit = connections_url(api, f"/{cid}/edit")
    changed = ldap_form(slapd, name="canary", dn=dn, password=canary + "y")
    pages.append(post(client, edit, changed))
    assert "Unable to validate connection:" in pages[-1]
    moved = {**changed, "credentials.url": slapd.ldap_url, "credentials.startTls": "true"}
    pages.append(post(client, edit, {**moved, "credentials.password": ""}))
    assert "Field required" in pages[-1]
    pages.append(
        post(client, edit, {**changed, "name": "Bad Name", "credentials.password": canary})
    )
    slapd.set_password(dn, canary + "-changed")  # the check now fails: its error must not echo
    for htmx in (False, True):
        pages.append(post(client, connections_url(api, f"/{cid}/check"), {}, htmx=htmx))
    assert "Failed" in pages[-1]

    assert len(pages) >= 25
    for number, text in enumerate(pages):
        assert canary not in text, f"page {number} shows the bind password"


def _token(client: TestClient, api: Api) -> str:
    return csrf_of(client.get(connections_url(api)).text)


def test_temporary_password_is_not_typed_back_into_the_rotation_form(
    api: Api, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    from tests.support.rotations import slapd_admin_connection

    connection = slapd_admin_connection(api, slapd)
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    wrong = f"Not-{ldap_user.password}-{secrets.token_hex(4)}"
    response = client.post(
        f"/projects/{api.project_id}/secret-rotations",
        data={
            "csrf_token": _token(client, api),
            "name": "self-service",
            "connectionId": connection["id"],
            "environment": "dev",
            "secretPath": "/ldap",
            "rotationInterval": "30",
            "parameters.dn": ldap_user.dn,
            "parameters.rotationMethod": "target-principal",
            "temporaryParameters.password": wrong,
        },
    )
    assert response.status_code == 400
    assert "Failed to rotate the password" in response.text or "alert" in response.text
    assert wrong not in response.text
    assert 'value="self-service"' in response.text
    assert slapd.can_bind(ldap_user.dn, ldap_user.password)
