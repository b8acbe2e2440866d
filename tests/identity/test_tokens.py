from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from tests.support.app import Api
from tests.support.server_process import ServerProcess

from ldapkeeper.app import create_app
from ldapkeeper.identity.errors import InvalidToken
from ldapkeeper.identity.tokens import TokenService, load_signing_key
from ldapkeeper.runtime import Runtime, build_runtime

KEY = b"k" * 32


def _projects(client: TestClient | httpx.Client, headers: dict[str, str]) -> int:
    return client.get("/api/v1/projects", headers=headers).status_code


def test_token_is_hs256_with_subject_kind_and_expiry() -> None:
    token = TokenService(KEY).issue(
        kind="identity", subject_id="id-1", ttl_seconds=60, secret_id="s"
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, KEY, algorithms=["HS256"], issuer="ldapkeeper")
    assert (claims["sub"], claims["kind"], claims["sid"]) == ("id-1", "identity", "s")
    assert claims["exp"] - claims["iat"] == 60


def test_issued_token_verifies_to_its_claims() -> None:
    service = TokenService(KEY)
    claims = service.verify(service.issue(kind="user", subject_id="user-1", ttl_seconds=60))
    assert (claims.kind, claims.subject_id, claims.secret_id) == ("user", "user-1", None)
    assert claims.expires_at > datetime.now(UTC)


def test_expired_token_is_refused() -> None:
    service = TokenService(KEY)
    with pytest.raises(InvalidToken):
        service.verify(service.issue(kind="user", subject_id="user-1", ttl_seconds=-1))


def test_token_signed_with_another_key_is_refused() -> None:
    token = TokenService(b"x" * 32).issue(kind="user", subject_id="user-1", ttl_seconds=60)
    with pytest.raises(InvalidToken):
        TokenService(KEY).verify(token)


def test_unsigned_token_is_refused() -> None:
    exp = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    claims = {"iss": "ldapkeeper", "sub": "user-1", "kind": "user", "exp": exp}
    token = jwt.encode(claims, key="", algorithm="none")
    with pytest.raises(InvalidToken):
        TokenService(KEY).verify(token)


def test_token_with_tampered_payload_is_refused() -> None:
    service = TokenService(KEY)
    header, _payload, signature = service.issue(
        kind="user", subject_id="user-1", ttl_seconds=60
    ).split(".")
    forged_payload = jwt.encode(
        {"iss": "ldapkeeper", "sub": "admin", "kind": "user", "exp": 4102444800}, KEY
    ).split(".")[1]
    with pytest.raises(InvalidToken):
        service.verify(f"{header}.{forged_payload}.{signature}")


def test_token_without_kind_is_refused() -> None:
    exp = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    token = jwt.encode({"iss": "ldapkeeper", "sub": "user-1", "exp": exp}, KEY, algorithm="HS256")
    with pytest.raises(InvalidToken):
        TokenService(KEY).verify(token)


def test_second_runtime_on_the_same_database_uses_the_same_signing_key(
    runtime_any_db: Runtime,
) -> None:
    second = build_runtime(runtime_any_db.settings)
    try:
        token = runtime_any_db.tokens.issue(kind="user", subject_id="user-1", ttl_seconds=60)
        assert second.tokens.verify(token).subject_id == "user-1"
    finally:
        second.db.dispose()


def test_signing_key_is_generated_once(runtime: Runtime) -> None:
    second = build_runtime(runtime.settings)
    try:
        with runtime.db.read() as session:
            first_key = load_signing_key(session, runtime.keyring, runtime.org_id)
        with second.db.read() as session:
            assert load_signing_key(session, second.keyring, second.org_id) == first_key
    finally:
        second.db.dispose()


def test_token_stays_valid_after_a_restart(api_any_db: Api) -> None:
    settings = api_any_db.runtime.settings
    api_any_db.client.close()
    api_any_db.runtime.db.dispose()
    restarted = build_runtime(settings)
    try:
        with TestClient(create_app(restarted)) as client:
            assert _projects(client, api_any_db.admin) == 200
    finally:
        restarted.db.dispose()


@pytest.fixture
def server_process(api_any_db: Api) -> Iterator[str]:
    """``ldapkeeper serve`` in a new process over the same database and root key."""
    settings = api_any_db.runtime.settings
    assert settings.root_key is not None
    server = ServerProcess(
        settings.data_dir,
        extra_env={
            "LDAPKEEPER_DATABASE_URL": settings.effective_database_url,
            "LDAPKEEPER_ROOT_KEY": settings.root_key.get_secret_value(),
            "LDAPKEEPER_RUN_WORKER": "false",
        },
    )
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def test_token_is_accepted_by_another_server_process(api_any_db: Api, server_process: str) -> None:
    with httpx.Client(base_url=server_process) as client:
        assert _projects(client, api_any_db.admin) == 200
        assert _projects(client, {"Authorization": "Bearer not-a-token"}) == 401
