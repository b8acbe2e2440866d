"""Abuse from outside: password guessing, timing, oversized requests, framing and sniffing.

- Logins (user, Universal Auth and the web form) are throttled over HTTP: after the
  allowed failures a 429 with ``Retry-After``, even for the right password; only failed
  attempts count (a success clears them). The service-level rules are in
  ``tests/identity/test_logins.py``.
- Secrets and tokens are compared in constant time: a scan of the source finds no ``==``
  on anything named like a password, secret, token, digest or signature, except the ones
  listed below with the reason they are safe.
- Every route that takes a body answers 413 past the size limit.
- Every API response and every UI page carries the security headers (UI pages: the
  Content-Security-Policy too), errors included.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ldapkeeper.api.middleware import SECURITY_HEADERS
from ldapkeeper.ui.rendering import CONTENT_SECURITY_POLICY
from ldapkeeper.ui.session import SESSION_COOKIE
from tests.security.test_authorization_matrix import app_routes, is_ui
from tests.support.app import ADMIN_EMAIL, ADMIN_PASSWORD, CLIENT_ID, CLIENT_SECRET, Api, build_api
from tests.ui.support import browser_client, csrf_of

SRC = Path(__file__).resolve().parents[2] / "src" / "ldapkeeper"
MAX_FAILURES = 3
WINDOW = 120
USER_LOGIN = "/api/v1/auth/login"
UA_LOGIN = "/api/v1/auth/universal-auth/login"


@pytest.fixture
def strict_api(tmp_path: Path) -> Iterator[Api]:
    """The app allowing three failed logins per account in a two-minute window."""
    harness = build_api(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'ldapkeeper.db'}",
        login_max_failures=MAX_FAILURES,
        login_window_seconds=WINDOW,
    )
    yield harness
    harness.client.close()
    harness.runtime.db.dispose()


LOGINS = {
    "user": (USER_LOGIN, "email", ADMIN_EMAIL, "password", ADMIN_PASSWORD),
    "universal-auth": (UA_LOGIN, "clientId", CLIENT_ID, "clientSecret", CLIENT_SECRET),
}


def login(api: Api, kind: str, *, right: bool) -> httpx.Response:
    """One login attempt of ``kind`` with the right or a wrong password / client secret."""
    path, who_field, who, secret_field, secret = LOGINS[kind]
    body = {who_field: who, secret_field: secret if right else "wrong-guess"}
    response: httpx.Response = api.client.post(path, json=body)
    return response


def statuses(api: Api, kind: str, *rights: bool) -> list[int]:
    return [login(api, kind, right=right).status_code for right in rights]


@pytest.mark.parametrize("kind", LOGINS)
def test_failed_logins_are_throttled_with_retry_after(strict_api: Api, kind: str) -> None:
    assert statuses(strict_api, kind, *[False] * MAX_FAILURES) == [401] * MAX_FAILURES
    assert statuses(strict_api, kind, False) == [429]
    response = login(strict_api, kind, right=True)
    assert response.status_code == 429, "the right password must not get through either"
    assert response.json()["error"] == "TooManyRequests"
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW


@pytest.mark.parametrize("kind", LOGINS)
def test_only_failed_logins_count(strict_api: Api, kind: str) -> None:
    answers = statuses(strict_api, kind, *[False] * (MAX_FAILURES - 1))
    answers += statuses(strict_api, kind, *[True] * (MAX_FAILURES + 2))
    answers += statuses(strict_api, kind, *[False] * (MAX_FAILURES - 1), True)
    assert 429 not in answers
    assert answers[-1] == 200


def test_throttling_of_one_account_leaves_the_others_alone(strict_api: Api) -> None:
    statuses(strict_api, "user", *[False] * (MAX_FAILURES + 1))
    assert statuses(strict_api, "user", True) == [429]
    assert statuses(strict_api, "universal-auth", True) == [200]


def test_web_login_form_is_throttled_too(strict_api: Api) -> None:
    browser = browser_client(strict_api)
    statuses = []
    for password in ["wrong-guess"] * (MAX_FAILURES + 1) + [ADMIN_PASSWORD]:
        token = csrf_of(browser.get("/login").text)
        form = {"email": ADMIN_EMAIL, "password": password, "csrf_token": token}
        statuses.append(browser.post("/login", data=form, follow_redirects=False).status_code)
    assert statuses[-2:] == [429, 429]
    assert 303 not in statuses


# -- constant-time comparisons ---------------------------------------------------------------

#: A name that holds a secret value (``client_secret``, ``access_token``, ``password``...),
#: not one that merely names or identifies one (``secret_name``, ``secret_id``).
SECRET_NAME = re.compile(
    r"(^|_)(pass(word)?|secret|token|digest|signature|hmac|csrf|hash)s?$", re.I
)
#: (file, comparison) pairs that are not secret comparisons, and why.
NOT_SECRET_COMPARISONS = {
    # An indexed look-up of the SHA-256 digest of a client secret (256 random bits, or an
    # installer's choice): a timing difference tells at most a digest prefix, never the secret.
    ("identity/service.py", "ClientSecret.secret_hash == client_secret_digest(client_secret)"),
    # Secret *names* of a rotation's mapping, not values.
    ("rotations/schemas.py", "self.dn == self.password"),
    # The worker's own lease token fencing its writes: not a credential, never sent by a client.
    ("rotations/scheduler.py", "SecretRotation.lease_owner == token"),
    ("rotations/engine.py", "loaded.lease_owner != token"),
    ("rotations/engine.py", "rotation.lease_owner != token"),
    ("rotations/engine.py", "attempt.lease_owner != token"),
    # The command-line client comparing its own cached login: no remote caller times it.
    ("cli/client.py", "cached.access_token == token"),
    (
        "cli/config.py",
        "(self.url, self.client_id, self.client_secret) == "
        "( other.url, other.client_id, other.client_secret, )",
    ),
}


def _leaf_names(node: ast.expr) -> Iterator[str]:
    """What an operand is called: a name, an attribute's last part, a called function's
    name, a subscript's string key; each element of a tuple."""
    if isinstance(node, ast.Tuple | ast.List):
        for element in node.elts:
            yield from _leaf_names(element)
    elif isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Attribute):
        yield node.attr
    elif isinstance(node, ast.Call):
        yield from _leaf_names(node.func)
    elif isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield key.value
        else:
            yield from _leaf_names(node.value)


def equality_comparisons_of_secret_names() -> list[tuple[str, str]]:
    """(file, source) of every ``==``/``!=`` whose operands name something secret-like."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value is None for o in operands):
                continue
            if any(SECRET_NAME.search(name) for o in operands for name in _leaf_names(o)):
                text = " ".join((ast.get_source_segment(source, node) or "").split())
                found.append((str(path.relative_to(SRC)), text))
    return found


def test_secrets_and_tokens_are_never_compared_with_equality() -> None:
    found = set(equality_comparisons_of_secret_names())
    assert found - NOT_SECRET_COMPARISONS == set()


def test_the_allowed_comparisons_still_exist() -> None:
    # A stale entry would let a new comparison with the same text through unnoticed.
    assert set(equality_comparisons_of_secret_names()) >= NOT_SECRET_COMPARISONS


def test_secret_checks_use_constant_time_primitives() -> None:
    csrf_source = (SRC / "ui" / "csrf.py").read_text()
    passwords_source = (SRC / "identity" / "passwords.py").read_text()
    tokens_source = (SRC / "identity" / "tokens.py").read_text()
    assert "hmac.compare_digest(" in csrf_source
    assert "PasswordHasher" in passwords_source
    assert "_HASHER.verify(" in passwords_source
    # PyJWT checks HS256 signatures with hmac.compare_digest.
    assert "jwt.decode(" in tokens_source
    assert 'algorithms=["HS256"]' in tokens_source


# -- request size ------------------------------------------------------------------------------


def test_every_route_with_a_body_refuses_an_oversized_one(api: Api) -> None:
    limit = api.runtime.settings.max_request_bytes
    oversized = b"{" + b" " * limit + b"}"
    refused = {}
    for method, path in app_routes(api.app):
        if method not in {"POST", "PUT", "PATCH", "DELETE"}:
            continue
        url = re.sub(r"\{[^}]+\}", "x", path)
        headers = {**api.admin, "Content-Type": "application/json"}
        response = api.client.request(method, url, content=oversized, headers=headers)
        refused[(method, path)] = response.status_code
    assert len(refused) >= 25
    assert {route: s for route, s in refused.items() if s != 413} == {}


# -- security headers --------------------------------------------------------------------------


def _filled(path: str, api: Api) -> str:
    path = path.replace("{project_id}", api.project_id).replace("{name:path}", "ui.css")
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)


def _missing_headers(response_headers: httpx.Headers, ui: bool, static: bool = False) -> list[str]:
    wanted = dict(SECURITY_HEADERS)
    if static:
        del wanted["Cache-Control"]  # shipped files may be cached; nothing in them is private
    if ui:
        wanted["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return [name for name, value in wanted.items() if response_headers.get(name) != value]


def test_every_get_route_answers_with_the_security_headers(api: Api) -> None:
    session = TestClient(api.app, raise_server_exceptions=False)
    session.cookies.set(SESSION_COOKIE, api.admin["Authorization"].removeprefix("Bearer "))
    anonymous = TestClient(api.app, raise_server_exceptions=False)
    checked, missing = 0, []
    for method, path in app_routes(api.app):
        if method != "GET":
            continue
        ui = is_ui(path)
        url = _filled(path, api)
        for client, headers in ((session, api.admin), (anonymous, {})):
            response = client.get(url, headers={} if ui else headers, follow_redirects=False)
            checked += 1
            ui_page = ui and response.headers.get("content-type", "").startswith("text/html")
            if lacking := _missing_headers(response.headers, ui_page, path.startswith("/static/")):
                missing.append((path, response.status_code, lacking))
    assert checked >= 60
    assert missing == []


def test_error_responses_carry_the_security_headers_too(api: Api) -> None:
    responses = [
        api.client.get("/api/v1/projects"),  # 401
        api.client.get("/api/v1/projects/nope", headers=api.admin),  # 404
        api.client.post("/api/v1/projects", json={"slug": 5}, headers=api.admin),  # 422
        api.client.put("/api/status"),  # 405
        api.client.post(USER_LOGIN, content=b"x" * (api.runtime.settings.max_request_bytes + 1)),
    ]
    assert [r.status_code for r in responses] == [401, 404, 422, 405, 413]
    assert [_missing_headers(r.headers, ui=False) for r in responses] == [[]] * 5
