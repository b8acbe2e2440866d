"""The UI in a real headless Chromium, as a new user would use it, against a real slapd.

Log in, open Integrations → App Connections, add an LDAP connection through the seed's four
steps (a wrong password first: the bind error shows inline), then a rotation that is rotated
now; every result is checked against the API.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.support.ci import in_ci
from tests.support.rotations import active_password, slapd_admin_connection
from tests.support.slapd import LdapUser, SlapdServer
from tests.ui.conftest import Ui

if not in_ci():  # under CI=true a missing Playwright fails the run
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from playwright.sync_api import Page, expect

pytestmark = pytest.mark.slapd

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def log_in(page: Page, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/integrations/app-connections$"))


def api_connections(api: Api) -> list[dict[str, Any]]:
    response = api.client.get(
        "/api/v1/app-connections/ldap", params={"projectId": api.project_id}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    connections: list[dict[str, Any]] = response.json()["appConnections"]
    return connections


def publish(shot: Path, name: str) -> None:
    """Copy a screenshot to docs/screenshots (the README's) when
    LDAPKEEPER_UPDATE_SCREENSHOTS=1; a normal run leaves the tracked files alone."""
    if os.environ.get("LDAPKEEPER_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / name)


def test_login_lands_on_app_connections_of_the_default_project(ui: Ui) -> None:
    log_in(ui.page)
    tab = ui.page.get_by_role("tab", name="App Connections")
    expect(tab).to_be_visible()
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(ui.page.get_by_label("Project", exact=True)).to_have_value(ui.server.api.project_id)
    expect(ui.page.get_by_role("option", name="default")).to_be_attached()
    expect(ui.page.get_by_role("heading", name="App Connections")).to_be_visible()


def test_wrong_login_stays_on_the_login_page(ui: Ui) -> None:
    ui.page.goto("/login")
    ui.page.get_by_label("Email").fill(ADMIN_EMAIL)
    ui.page.get_by_label("Password").fill("not-the-password")
    ui.page.get_by_role("button", name="Log in").click()
    expect(ui.page.get_by_role("alert")).to_contain_text("Invalid credentials")
    expect(ui.page.get_by_label("Email")).to_have_value(ADMIN_EMAIL)
    expect(ui.page.get_by_label("Password")).to_have_value("")


def test_add_ldap_connection_through_the_four_steps(ui: Ui, slapd: SlapdServer) -> None:
    page, api = ui.page, ui.server.api
    log_in(page)
    # 1. Integrations → App Connections → Add Connection
    page.get_by_role("button", name="Add Connection").or_(
        page.get_by_role("link", name="Add Connection")
    ).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Add Connection")
    ui.screenshot("connection-choose-app")
    # 2. the LDAP option: the Simple Bind form at once
    dialog.get_by_role("link", name=re.compile("LDAP")).click()
    form = page.locator("#ldap-connection-form")
    expect(form).to_be_visible()
    expect(form.get_by_label("Method")).to_have_value("simple-bind")
    expect(form.get_by_label("Method").locator("option:checked")).to_have_text("Simple Bind")
    # 3. Simple Bind details, first with a wrong password
    form.get_by_label("Name").fill("corp-directory")
    form.get_by_label("Provider").select_option(label="OpenLDAP")
    form.get_by_label("LDAP URL").fill(slapd.ldaps_url)
    form.get_by_label("Binding DN/UPN").fill(slapd.admin_dn)
    form.get_by_label("Binding Password").fill("Wrong-Password-123")
    form.get_by_label("CA Certificate").fill(slapd.ca_pem)
    expect(form.get_by_label("Reject Unauthorized")).to_be_enabled()
    expect(form.get_by_label("Reject Unauthorized")).to_be_checked()
    expect(form.get_by_label("StartTLS")).to_be_disabled()
    form.get_by_role("button", name="Connect to Provider").click()

    form = page.locator("#ldap-connection-form")
    alert = page.get_by_role("dialog").get_by_role("alert")
    expect(alert).to_contain_text("Unable to validate connection:")
    expect(alert).to_contain_text("nvalid credentials")
    expect(form.get_by_label("Name")).to_have_value("corp-directory")
    expect(form.get_by_label("Provider")).to_have_value("open-ldap")
    expect(form.get_by_label("LDAP URL")).to_have_value(slapd.ldaps_url)
    expect(form.get_by_label("Binding DN/UPN")).to_have_value(slapd.admin_dn)
    expect(form.get_by_label("CA Certificate")).to_have_value(slapd.ca_pem)
    expect(form.get_by_label("Reject Unauthorized")).to_be_checked()
    expect(form.get_by_label("Binding Password")).to_have_value("")
    assert "Wrong-Password-123" not in page.content()
    assert api_connections(api) == []
    page.set_viewport_size({"width": 1360, "height": 1180})  # the whole dialog in the picture
    publish(ui.screenshot("connection-bind-error"), "app-connection-bind-error.png")
    page.set_viewport_size({"width": 1360, "height": 900})

    # 4. the right password: connected, and listed
    form.get_by_label("Binding Password").fill(slapd.admin_password)
    form.get_by_role("button", name="Connect to Provider").click()
    expect(page).to_have_url(re.compile(r"/integrations/app-connections\?created="))
    row = page.locator("#connections tbody tr", has_text="corp-directory")
    expect(row).to_be_visible()
    expect(row).to_contain_text(slapd.ldaps_url)
    expect(row).to_contain_text(slapd.admin_dn)
    expect(page.get_by_role("status")).to_contain_text("corp-directory")
    assert slapd.admin_password not in page.content()
    ui.screenshot("connection-listed")

    [stored] = api_connections(api)
    assert stored["name"] == "corp-directory"
    assert stored["credentials"]["provider"] == "open-ldap"
    assert stored["credentials"]["url"] == slapd.ldaps_url
    assert stored["credentials"]["dn"] == slapd.admin_dn
    assert stored["credentials"]["sslRejectUnauthorized"] is True
    assert stored["credentials"]["sslCertificate"].strip() == slapd.ca_pem.strip()
    assert row.get_attribute("id") == f"connection-{stored['id']}"


def test_tls_options_follow_the_url_and_starttls(ui: Ui) -> None:
    page = ui.page
    log_in(page)
    page.goto(f"/projects/{ui.server.api.project_id}/integrations/app-connections/new/ldap")
    form = page.locator("#ldap-connection-form")
    reject, start_tls = form.get_by_label("Reject Unauthorized"), form.get_by_label("StartTLS")
    form.get_by_label("LDAP URL").fill("ldap://directory.example.test:389")
    expect(reject).to_be_disabled()
    expect(start_tls).to_be_enabled()
    start_tls.check()
    expect(reject).to_be_enabled()
    form.get_by_label("LDAP URL").fill("ldaps://directory.example.test:636")
    expect(start_tls).to_be_disabled()
    expect(start_tls).not_to_be_checked()
    expect(reject).to_be_enabled()


def test_check_edit_and_delete_a_connection(ui: Ui, slapd: SlapdServer) -> None:
    page, api = ui.page, ui.server.api
    connection = slapd_admin_connection(api, slapd, name="corp-directory")
    log_in(page)
    row = page.locator(f"#connection-{connection['id']}")
    row.get_by_role("button", name="Check").click()
    expect(row.locator("[data-check]")).to_have_attribute("data-check", "ok")
    expect(row).to_contain_text("Connected")

    row.get_by_role("link", name="Edit").click()
    form = page.locator("#ldap-connection-form")
    expect(form.get_by_label("Method")).to_be_disabled()
    expect(form.get_by_label("Provider")).to_be_disabled()
    expect(form.get_by_label("Binding Password")).to_have_value("")
    form.get_by_label("Description").fill("The corporate directory")
    form.get_by_role("button", name="Update Credentials").click()
    expect(page.get_by_role("status")).to_contain_text("was updated")
    [stored] = api_connections(api)
    assert stored["description"] == "The corporate directory"
    assert stored["version"] == 2
    assert stored["credentialsHash"] == connection["credentialsHash"]

    page.locator(f"#connection-{connection['id']}").get_by_role("link", name="Delete").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Delete corp-directory?")
    dialog.get_by_role("button", name="Delete Connection").click()
    expect(page.get_by_role("status")).to_contain_text("deleted")
    expect(page.locator(f"#connection-{connection['id']}")).to_have_count(0)
    assert api_connections(api) == []


def test_create_a_rotation_rotate_it_now_and_reveal(
    ui: Ui, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    page, api = ui.page, ui.server.api
    connection = slapd_admin_connection(api, slapd, name="corp-directory")
    log_in(page)
    page.locator(f"#connection-{connection['id']}").get_by_role(
        "link", name="Rotate a password"
    ).click()
    form = page.locator("#rotation-form")
    expect(form.get_by_label("LDAP Connection")).to_have_value(connection["id"])
    expect(form.get_by_label("Current Password")).to_be_disabled()
    form.get_by_label("Rotation Method").select_option("target-principal")
    expect(form.get_by_label("Current Password")).to_be_enabled()
    form.get_by_label("Rotation Method").select_option("connection-principal")
    form.get_by_label("Distinguished Name (DN)").fill(ldap_user.dn)
    form.get_by_label("Length", exact=True).fill("32")
    form.get_by_label("Environment").select_option("dev")
    form.get_by_label("Secret Path").fill("/ldap")
    form.get_by_label("Rotation Interval (days)").fill("7")
    form.get_by_label("Rotate At, Hour (UTC)").fill("3")
    form.get_by_label("Rotate At, Minute (UTC)").fill("30")
    form.get_by_label("DN Secret Name").fill("APP_LDAP_DN")
    form.get_by_label("Password Secret Name").fill("APP_LDAP_PASSWORD")
    form.get_by_label("Name", exact=True).fill("app-account")
    ui.screenshot("rotation-form")
    form.get_by_role("button", name="Create Rotation").click()

    expect(page.get_by_role("status")).to_contain_text("Rotation created")
    expect(page.locator("#rotation-status")).to_contain_text("success")
    expect(page.locator("#history tbody tr")).to_have_count(1)
    rotation_id = page.url.split("/secret-rotations/")[1].split("?")[0]
    first = active_password(api, rotation_id)
    assert len(first) == 32
    assert slapd.can_bind(ldap_user.dn, first)
    assert first not in page.content()

    page.get_by_role("button", name="Rotate now").click()
    expect(page.get_by_role("status")).to_contain_text("The password was rotated")
    expect(page.locator("#history tbody tr")).to_have_count(2)
    second = active_password(api, rotation_id)
    assert second != first
    assert slapd.can_bind(ldap_user.dn, second)
    assert not slapd.can_bind(ldap_user.dn, first)

    page.get_by_role("button", name="Reveal Generated Credentials").click()
    shown = page.locator("#credentials-table [data-slot=active]")
    expect(shown).to_have_text(second)
    expect(page.locator("#credentials-table [data-slot=previous]")).to_have_text(first)
    publish(ui.screenshot("rotation-detail"), "secret-rotation-detail.png")

    rotation = api.client.get(
        f"/api/v2/secret-rotations/ldap-password/{rotation_id}", headers=api.admin
    ).json()["secretRotation"]
    assert rotation["name"] == "app-account"
    assert rotation["rotateAtUtc"] == {"hours": 3, "minutes": 30}
    assert rotation["rotationInterval"] == 7
    assert rotation["secretPath"] == "/ldap"
    assert rotation["parameters"]["passwordRequirements"]["length"] == 32
    expect(page.locator("#next-rotation")).to_contain_text(
        rotation["nextRotationAt"][:10] + " 03:30 UTC"
    )

    page.get_by_role("link", name="Secret Rotations", exact=True).first.click()
    listed = page.locator(f"#rotation-{rotation_id}")
    expect(listed).to_contain_text("success")
    expect(listed).to_contain_text(ldap_user.dn)
    ui.screenshot("rotations-list")

    # The secrets it wrote: masked, then revealed on request.
    page.get_by_role("link", name="Secrets", exact=True).click()
    page.locator("#secrets").get_by_role("link", name="ldap").click()
    secret_row = page.locator("#secrets tr[data-key=APP_LDAP_PASSWORD]")
    expect(secret_row).to_contain_text("••••")
    assert second not in page.content()
    secret_row.get_by_role("button", name="Reveal").click()
    expect(secret_row.locator(".secret-value")).to_have_text(second)
    ui.screenshot("secrets-folder")
