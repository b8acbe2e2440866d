import jwt
from tests.support.app import ADMIN_EMAIL, ADMIN_PASSWORD, CLIENT_ID, CLIENT_SECRET, Api

UNIVERSAL_AUTH = "/api/v1/auth/universal-auth/login"
USER_LOGIN = "/api/v1/auth/login"


def test_universal_auth_login_answers_infisicals_token_shape(api: Api) -> None:
    response = api.client.post(
        UNIVERSAL_AUTH, json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"}
    assert (body["expiresIn"], body["accessTokenMaxTTL"], body["tokenType"]) == (
        7200,
        2592000,
        "Bearer",
    )
    assert jwt.get_unverified_header(body["accessToken"])["alg"] == "HS256"


def test_user_login_answers_the_same_token_shape(api: Api) -> None:
    response = api.client.post(USER_LOGIN, json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert (body["expiresIn"], body["accessTokenMaxTTL"], body["tokenType"]) == (
        7200,
        2592000,
        "Bearer",
    )


def test_user_token_opens_the_api(api: Api) -> None:
    token = api.client.post(
        USER_LOGIN, json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    ).json()["accessToken"]
    response = api.client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_wrong_password_and_unknown_user_answer_the_same(api: Api) -> None:
    wrong = api.client.post(USER_LOGIN, json={"email": ADMIN_EMAIL, "password": "nope"})
    unknown = api.client.post(
        USER_LOGIN, json={"email": "nobody@example.test", "password": ADMIN_PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"] == "Invalid credentials"


def test_wrong_client_secret_and_unknown_client_answer_the_same(api: Api) -> None:
    wrong = api.client.post(UNIVERSAL_AUTH, json={"clientId": CLIENT_ID, "clientSecret": "nope"})
    unknown = api.client.post(
        UNIVERSAL_AUTH, json={"clientId": "nobody", "clientSecret": CLIENT_SECRET}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"]


def test_login_accepts_unknown_fields(api: Api) -> None:
    response = api.client.post(
        UNIVERSAL_AUTH,
        json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "organizationSlug": "x"},
    )
    assert response.status_code == 200


def test_expired_token_is_401(api: Api) -> None:
    token = api.runtime.tokens.issue(kind="user", subject_id="anyone", ttl_seconds=-1)
    response = api.client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"] == "UnauthorizedError"


def test_token_of_an_unknown_subject_is_401(api: Api) -> None:
    token = api.runtime.tokens.issue(kind="user", subject_id="no-such-user", ttl_seconds=60)
    response = api.client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_login_routes_need_no_token(api: Api) -> None:
    response = api.client.post(UNIVERSAL_AUTH, json={"clientId": "x", "clientSecret": "y"})
    assert response.json()["message"] == "Invalid credentials"


def test_email_longer_than_rfc_5321_allows_is_422(api: Api) -> None:
    email = "a" * 64 + "@" + "b" * 186 + ".test"
    response = api.client.post(USER_LOGIN, json={"email": email, "password": "x"})
    assert response.status_code == 422


def test_longest_email_allowed_at_login_fails_cleanly_on_every_database(
    api_any_db: Api,
) -> None:
    email = "a" * 64 + "@" + "b" * 184 + ".test"  # 254 characters, the RFC 5321 limit
    response = api_any_db.client.post(USER_LOGIN, json={"email": email, "password": "x"})
    assert response.status_code == 401
