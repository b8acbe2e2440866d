"""CSRF, cookies, the Content-Security-Policy, and what the pages load (no CDN)."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from ldapkeeper.ui import csrf
from ldapkeeper.ui.forms import checked_form
from ldapkeeper.ui.rendering import CONTENT_SECURITY_POLICY, UiRoute
from ldapkeeper.ui.routes import PARTS
from tests.support.app import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.ui.support import browser_client, connections_url, csrf_of, ui_login

UI_DIR = Path(__file__).resolve().parents[2] / "src" / "ldapkeeper" / "ui"


def cookie_attributes(set_cookie: str) -> dict[str, str]:
    parsed = SimpleCookie()
    parsed.load(set_cookie)
    [morsel] = parsed.values()
    return {key: str(value) for key, value in morsel.items() if value}


def session_set_cookie(api: Api, base_url: str) -> str:
    client = browser_client(api, base_url=base_url)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    [session] = [
        c for c in response.headers.get_list("set-cookie") if c.startswith("ldapkeeper_session=")
    ]
    return str(session)


def test_session_cookie_is_httponly_and_samesite_strict(api: Api) -> None:
    attributes = cookie_attributes(session_set_cookie(api, "http://testserver"))
    assert attributes["httponly"] is not None
    assert attributes["samesite"].lower() == "strict"
    assert attributes["path"] == "/"
    assert "secure" not in attributes


def test_session_cookie_is_secure_over_https(api: Api) -> None:
    attributes = cookie_attributes(session_set_cookie(api, "https://testserver"))
    assert attributes["secure"]
    assert attributes["samesite"].lower() == "strict"


def test_login_page_sets_a_strict_httponly_pre_session_cookie(api: Api) -> None:
    response = browser_client(api).get("/login")
    attributes = cookie_attributes(response.headers["set-cookie"])
    assert attributes["httponly"] is not None
    assert attributes["samesite"].lower() == "strict"


def test_login_without_csrf_token_is_refused(api: Api) -> None:
    client = browser_client(api)
    client.get("/login")
    response = client.post(
        "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "ldapkeeper_session" not in response.headers.get("set-cookie", "")


def test_form_without_csrf_token_is_refused_and_changes_nothing(api: Api) -> None:
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    response = client.post(
        connections_url(api, "/ldap"),
        data={"name": "no-token", "credentials.url": "ldap://127.0.0.1:1"},
    )
    assert response.status_code == 403
    assert "This form has expired or did not come from this site" in response.text
    listed = api.client.get(
        "/api/v1/app-connections/ldap", params={"projectId": api.project_id}, headers=api.admin
    )
    assert listed.json()["appConnections"] == []


def test_csrf_token_of_another_session_is_refused(api: Api) -> None:
    mine, theirs = browser_client(api), browser_client(api)
    ui_login(mine, ADMIN_EMAIL, ADMIN_PASSWORD)
    ui_login(theirs, ADMIN_EMAIL, ADMIN_PASSWORD)
    their_token = csrf_of(theirs.get(connections_url(api)).text)
    response = mine.post("/logout", data={"csrf_token": their_token}, follow_redirects=False)
    assert response.status_code == 403


def test_csrf_token_is_accepted_from_its_own_session(api: Api) -> None:
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    token = csrf_of(client.get(connections_url(api)).text)
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert 'ldapkeeper_session=""' in response.headers["set-cookie"]


def test_csrf_token_changes_with_the_session() -> None:
    assert csrf.token_for("session-a") != csrf.token_for("session-b")
    assert csrf.token_for("session-a") == csrf.token_for("session-a")
    assert "session-a" not in csrf.token_for("session-a")


def test_every_post_route_checks_the_csrf_token() -> None:
    routes = [r for part in PARTS for r in part.routes if isinstance(r, APIRoute)]
    posts = [r for r in routes if "POST" in (r.methods or set())]
    unchecked = [
        r.path for r in posts if not any(d.call is checked_form for d in r.dependant.dependencies)
    ]
    assert len(posts) >= 8
    assert unchecked == []


def test_every_ui_route_renders_errors_as_pages() -> None:
    routes = [r for part in PARTS for r in part.routes if isinstance(r, APIRoute)]
    assert routes
    assert all(isinstance(r, UiRoute) for r in routes)


@pytest.mark.parametrize("path", ["/login", "/static/ui.css", "/nowhere-ui"])
def test_ui_responses_carry_the_content_security_policy(api: Api, path: str) -> None:
    response = browser_client(api).get(path)
    if path == "/nowhere-ui":
        assert response.status_code == 404
        return
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_pages_and_error_pages_carry_the_content_security_policy(api: Api) -> None:
    client = browser_client(api)
    ui_login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    for path in [connections_url(api), "/projects/no-such-project/secrets"]:
        response = client.get(path)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "DENY"


def test_content_security_policy_allows_scripts_from_this_site_only() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_templates_have_no_inline_script_style_or_event_handler() -> None:
    for template in (UI_DIR / "templates").rglob("*.html"):
        text = template.read_text()
        assert re.search(r"<script(?![^>]*\bsrc=)", text) is None, template
        assert "<style" not in text, template
        assert re.search(r"\son[a-z]+=", text) is None, template
        assert re.search(r"\sstyle=", text) is None, template
        assert "hx-on" not in text, template
        assert "js:" not in text, template


def test_nothing_is_loaded_from_another_site() -> None:
    for path in [*(UI_DIR / "templates").rglob("*.html"), *(UI_DIR / "static").glob("*.*")]:
        text = path.read_text()
        assert re.search(r"(src|href)=[\"']?(https?:)?//", text) is None, path
        assert "url(http" not in text, path


def test_vendored_htmx_is_served_with_its_license(api: Api) -> None:
    client = browser_client(api)
    htmx = client.get("/static/vendor/htmx-2.0.11/htmx.min.js")
    assert htmx.status_code == 200
    assert htmx.headers["content-type"].startswith("text/javascript")
    vendored = UI_DIR / "static" / "vendor" / "htmx-2.0.11"
    assert htmx.content == (vendored / "htmx.min.js").read_bytes()
    assert "Zero-Clause BSD" in (vendored / "LICENSE").read_text()
    assert 'version:"2.0.11"' in htmx.text.replace(" ", "")


def test_static_serves_only_shipped_files(api: Api) -> None:
    client = browser_client(api)
    assert client.get("/static/ui.js").status_code == 200
    assert client.get("/static/..%2Frendering.py").status_code == 404
    assert client.get("/static/missing.js").status_code == 404
