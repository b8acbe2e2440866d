from typing import Any

import pytest
from tests.support.app import Api

IDENTITIES = "/api/v1/identities"
USERS = "/api/v1/users"


def _identity(api: Api, name: str = "bot", **fields: Any) -> dict[str, Any]:
    response = api.client.post(IDENTITIES, json={"name": name, **fields}, headers=api.admin)
    assert response.status_code == 200, response.text
    identity: dict[str, Any] = response.json()["identity"]
    return identity


def _secrets_url(identity_id: str) -> str:
    return f"{IDENTITIES}/{identity_id}/universal-auth/client-secrets"


def _new_secret(api: Api, identity_id: str) -> dict[str, Any]:
    response = api.client.post(_secrets_url(identity_id), json={}, headers=api.admin)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def _login(api: Api, client_id: str, secret: str) -> Any:
    return api.client.post(
        "/api/v1/auth/universal-auth/login", json={"clientId": client_id, "clientSecret": secret}
    )


def _memberships_url(api: Api) -> str:
    return f"/api/v1/projects/{api.project_id}/memberships"


def _set_role(api: Api, identity_id: str, role: str, headers: dict[str, str] | None = None) -> Any:
    return api.client.put(
        _memberships_url(api),
        json={"identityId": identity_id, "role": role},
        headers=headers or api.admin,
    )


def _revoke(api: Api, identity_id: str, secret_id: str) -> Any:
    return api.client.post(f"{_secrets_url(identity_id)}/{secret_id}/revoke", headers=api.admin)


# Machine identities and client secrets


def test_org_admin_creates_a_machine_identity(api: Api) -> None:
    identity = _identity(api, "deployer")
    assert identity["name"] == "deployer"
    assert identity["clientId"]
    assert identity["orgRole"] == "member"
    assert (identity["accessTokenTTL"], identity["accessTokenMaxTTL"]) == (7200, 2592000)


def test_identity_token_ttl_above_its_max_is_400(api: Api) -> None:
    response = api.client.post(
        IDENTITIES,
        json={"name": "bot", "accessTokenTTL": 7200, "accessTokenMaxTTL": 3600},
        headers=api.admin,
    )
    assert response.status_code == 400


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_non_org_admin_cannot_create_identities(api: Api, role: str) -> None:
    headers = api.identity_with_role(role)
    assert api.client.post(IDENTITIES, json={"name": "x"}, headers=headers).status_code == 403


def test_identities_are_listed_for_org_admins(api: Api) -> None:
    _identity(api, "zz-bot")
    names = [i["name"] for i in api.client.get(IDENTITIES, headers=api.admin).json()["identities"]]
    assert "zz-bot" in names
    assert "admin" in names


def test_identities_list_is_refused_to_non_org_admins(api: Api) -> None:
    headers = api.identity_with_role("admin")
    assert api.client.get(IDENTITIES, headers=headers).status_code == 403


def test_client_secret_is_shown_once_on_creation(api: Api) -> None:
    identity = _identity(api)
    created = _new_secret(api, identity["id"])
    assert len(created["clientSecret"]) == 64
    data = created["clientSecretData"]
    assert data["clientSecretPrefix"] == created["clientSecret"][:4]
    assert data["isRevoked"] is False


def test_client_secret_list_never_shows_the_secret(api: Api) -> None:
    identity = _identity(api)
    created = _new_secret(api, identity["id"])
    response = api.client.get(_secrets_url(identity["id"]), headers=api.admin)
    assert response.status_code == 200
    assert created["clientSecret"] not in response.text
    [listed] = response.json()["clientSecretData"]
    assert set(listed) == {"id", "description", "clientSecretPrefix", "createdAt", "isRevoked"}


def test_new_client_secret_logs_in_with_the_identitys_ttl(api: Api) -> None:
    identity = _identity(api, accessTokenTTL=600, accessTokenMaxTTL=3600)
    created = _new_secret(api, identity["id"])
    response = _login(api, identity["clientId"], created["clientSecret"])
    assert response.status_code == 200
    body = response.json()
    assert (body["expiresIn"], body["accessTokenMaxTTL"]) == (600, 3600)


def test_revoking_a_client_secret_ends_its_tokens(api: Api) -> None:
    identity = _identity(api, orgRole="admin")
    created = _new_secret(api, identity["id"])
    headers = api.login(identity["clientId"], created["clientSecret"])
    assert api.client.get("/api/v1/projects", headers=headers).status_code == 200
    secret_id = created["clientSecretData"]["id"]
    revoked = api.client.post(
        f"{_secrets_url(identity['id'])}/{secret_id}/revoke", headers=api.admin
    )
    assert revoked.status_code == 200
    assert revoked.json()["isRevoked"] is True
    assert api.client.get("/api/v1/projects", headers=headers).status_code == 401


def test_revoked_client_secret_cannot_log_in(api: Api) -> None:
    identity = _identity(api)
    created = _new_secret(api, identity["id"])
    secret_id = created["clientSecretData"]["id"]
    _revoke(api, identity["id"], secret_id)
    assert _login(api, identity["clientId"], created["clientSecret"]).status_code == 401


def test_revoking_one_secret_keeps_the_others_tokens(api: Api) -> None:
    identity = _identity(api, orgRole="admin")
    kept = _new_secret(api, identity["id"])
    revoked = _new_secret(api, identity["id"])
    headers = api.login(identity["clientId"], kept["clientSecret"])
    secret_id = revoked["clientSecretData"]["id"]
    _revoke(api, identity["id"], secret_id)
    assert api.client.get("/api/v1/projects", headers=headers).status_code == 200


def test_client_secrets_of_an_unknown_identity_are_404(api: Api) -> None:
    assert api.client.post(_secrets_url("nope"), json={}, headers=api.admin).status_code == 404
    assert api.client.get(_secrets_url("nope"), headers=api.admin).status_code == 404


def test_revoking_an_unknown_secret_is_404(api: Api) -> None:
    identity = _identity(api)
    url = f"{_secrets_url(identity['id'])}/nope/revoke"
    assert api.client.post(url, headers=api.admin).status_code == 404


# Users


def test_org_admin_creates_a_user_who_can_log_in(api: Api) -> None:
    response = api.client.post(
        USERS,
        json={"email": "Carol@Example.test", "password": "a-long-password"},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert (user["email"], user["orgRole"]) == ("carol@example.test", "member")
    login = api.client.post(
        "/api/v1/auth/login", json={"email": "carol@example.test", "password": "a-long-password"}
    )
    assert login.status_code == 200
    assert set(login.json()) == {"accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"}


def test_user_list_never_shows_password_hashes(api: Api) -> None:
    response = api.client.get(USERS, headers=api.admin)
    assert response.status_code == 200
    assert "argon2" not in response.text
    assert all(set(u) == {"id", "email", "orgRole", "createdAt"} for u in response.json()["users"])


def test_short_user_password_is_422(api: Api) -> None:
    response = api.client.post(
        USERS, json={"email": "d@example.test", "password": "short"}, headers=api.admin
    )
    assert response.status_code == 422


def test_duplicate_user_email_is_400(api: Api) -> None:
    body = {"email": "e@example.test", "password": "a-long-password"}
    assert api.client.post(USERS, json=body, headers=api.admin).status_code == 200
    assert api.client.post(USERS, json=body, headers=api.admin).status_code == 400


def test_non_org_admin_cannot_manage_users(api: Api) -> None:
    headers = api.identity_with_role("admin")
    body = {"email": "f@example.test", "password": "a-long-password"}
    assert api.client.get(USERS, headers=headers).status_code == 403
    assert api.client.post(USERS, json=body, headers=headers).status_code == 403


# Memberships


def test_membership_gives_an_identity_a_role(api: Api) -> None:
    identity = _identity(api)
    response = api.client.put(
        _memberships_url(api),
        json={"identityId": identity["id"], "role": "viewer"},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    membership = response.json()["membership"]
    assert (membership["identityId"], membership["role"]) == (identity["id"], "viewer")
    listed = api.client.get(_memberships_url(api), headers=api.admin).json()["memberships"]
    assert [(m["identityId"], m["role"]) for m in listed] == [(identity["id"], "viewer")]


def test_membership_of_a_user(api: Api) -> None:
    user = api.client.post(
        USERS, json={"email": "g@example.test", "password": "a-long-password"}, headers=api.admin
    ).json()["user"]
    response = api.client.put(
        _memberships_url(api), json={"userId": user["id"], "role": "member"}, headers=api.admin
    )
    assert response.status_code == 200
    assert response.json()["membership"]["userId"] == user["id"]


def test_setting_a_membership_again_changes_the_role(api: Api) -> None:
    identity = _identity(api)
    for role in ("admin", "no-access"):
        api.client.put(
            _memberships_url(api),
            json={"identityId": identity["id"], "role": role},
            headers=api.admin,
        )
    listed = api.client.get(_memberships_url(api), headers=api.admin).json()["memberships"]
    assert [m["role"] for m in listed] == ["no-access"]


def test_project_admin_manages_memberships(api: Api) -> None:
    project_admin = api.identity_with_role("admin")
    identity = _identity(api)
    response = api.client.put(
        _memberships_url(api),
        json={"identityId": identity["id"], "role": "viewer"},
        headers=project_admin,
    )
    assert response.status_code == 200


@pytest.mark.parametrize("role", ["member", "viewer", "no-access", "none"])
def test_non_admins_cannot_see_or_set_memberships(api: Api, role: str) -> None:
    headers = api.identity_with_role(role)
    identity = _identity(api)
    assert api.client.get(_memberships_url(api), headers=headers).status_code == 403
    response = api.client.put(
        _memberships_url(api), json={"identityId": identity["id"], "role": "admin"}, headers=headers
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [{"role": "viewer"}, {"userId": "u", "identityId": "i", "role": "viewer"}],
    ids=["neither", "both"],
)
def test_membership_needs_exactly_one_member(api: Api, body: dict[str, str]) -> None:
    assert api.client.put(_memberships_url(api), json=body, headers=api.admin).status_code == 400


def test_membership_of_an_unknown_identity_is_404(api: Api) -> None:
    response = api.client.put(
        _memberships_url(api), json={"identityId": "nope", "role": "viewer"}, headers=api.admin
    )
    assert response.status_code == 404


def test_membership_with_an_unknown_role_is_422(api: Api) -> None:
    identity = _identity(api)
    response = api.client.put(
        _memberships_url(api),
        json={"identityId": identity["id"], "role": "owner"},
        headers=api.admin,
    )
    assert response.status_code == 422


def test_memberships_of_an_unknown_project_are_404(api: Api) -> None:
    response = api.client.get("/api/v1/projects/nope/memberships", headers=api.admin)
    assert response.status_code == 404
