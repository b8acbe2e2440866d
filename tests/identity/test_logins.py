import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.app import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CLIENT_ID,
    CLIENT_SECRET,
    make_settings,
)

from ldapkeeper.audit.service import RequestContext
from ldapkeeper.errors import DomainError
from ldapkeeper.identity.errors import InvalidCredentials, LoginThrottled
from ldapkeeper.identity.logins import IssuedToken, login_universal_auth, login_user
from ldapkeeper.runtime import Runtime, build_runtime


def _user_login(runtime: Runtime, email: str, password: str) -> IssuedToken:
    return login_user(
        db=runtime.db,
        tokens=runtime.tokens,
        policy=runtime.login_policy,
        email=email,
        password=password,
        ttl_seconds=runtime.settings.access_token_ttl_seconds,
        max_ttl_seconds=runtime.settings.access_token_max_ttl_seconds,
    )


def _client_login(runtime: Runtime, client_id: str, secret: str) -> IssuedToken:
    return login_universal_auth(
        db=runtime.db,
        tokens=runtime.tokens,
        policy=runtime.login_policy,
        client_id=client_id,
        client_secret=secret,
        context=RequestContext(),
    )


def _failure(call: object) -> DomainError:
    assert callable(call)
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def _client_failure(runtime: Runtime, secret: str = "wrong-secret") -> DomainError:
    return _failure(lambda: _client_login(runtime, CLIENT_ID, secret))


@pytest.fixture
def throttled(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    """A runtime that throttles after 3 failures in a 60 s window."""
    settings = make_settings(
        tmp_path / "data", database_url, login_max_failures=3, login_window_seconds=60
    )
    built = build_runtime(settings)
    yield built
    built.db.dispose()


def test_user_logs_in_with_email_and_password(runtime: Runtime) -> None:
    issued = _user_login(runtime, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert runtime.tokens.verify(issued.access_token).kind == "user"
    assert issued.expires_in == 7200
    assert issued.access_token_max_ttl == 2592000


def test_user_email_is_matched_without_case_or_surrounding_space(runtime: Runtime) -> None:
    _user_login(runtime, f"  {ADMIN_EMAIL.upper()} ", ADMIN_PASSWORD)


def test_wrong_password_and_unknown_user_fail_the_same_way(runtime: Runtime) -> None:
    wrong = _failure(lambda: _user_login(runtime, ADMIN_EMAIL, "wrong-password"))
    unknown = _failure(lambda: _user_login(runtime, "nobody@example.test", ADMIN_PASSWORD))
    assert isinstance(wrong, InvalidCredentials)
    assert isinstance(unknown, InvalidCredentials)
    assert wrong.message == unknown.message == "Invalid credentials"


def test_machine_identity_logs_in_with_client_id_and_secret(runtime: Runtime) -> None:
    issued = _client_login(runtime, CLIENT_ID, CLIENT_SECRET)
    claims = runtime.tokens.verify(issued.access_token)
    assert claims.kind == "identity"
    assert claims.secret_id is not None


def test_wrong_client_secret_and_unknown_client_id_fail_the_same_way(runtime: Runtime) -> None:
    wrong = _failure(lambda: _client_login(runtime, CLIENT_ID, "wrong-secret"))
    unknown = _failure(lambda: _client_login(runtime, "no-such-client", CLIENT_SECRET))
    assert isinstance(wrong, InvalidCredentials)
    assert isinstance(unknown, InvalidCredentials)
    assert wrong.message == unknown.message


def test_login_is_throttled_after_max_failures(throttled: Runtime) -> None:
    for _ in range(3):
        assert isinstance(_client_failure(throttled), InvalidCredentials)
    refused = _failure(lambda: _client_login(throttled, CLIENT_ID, CLIENT_SECRET))
    assert isinstance(refused, LoginThrottled)
    assert 1 <= refused.retry_after <= 60


def test_user_login_is_throttled_after_max_failures(throttled: Runtime) -> None:
    for _ in range(3):
        _failure(lambda: _user_login(throttled, ADMIN_EMAIL, "wrong-password"))
    refused = _failure(lambda: _user_login(throttled, ADMIN_EMAIL, ADMIN_PASSWORD))
    assert isinstance(refused, LoginThrottled)


def test_successful_login_clears_earlier_failures(throttled: Runtime) -> None:
    for _ in range(2):
        _client_failure(throttled)
    _client_login(throttled, CLIENT_ID, CLIENT_SECRET)
    for _ in range(3):
        assert isinstance(_client_failure(throttled), InvalidCredentials)


def test_throttling_of_one_account_leaves_others_alone(throttled: Runtime) -> None:
    for _ in range(4):
        _failure(lambda: _client_login(throttled, "attacked-client", "x"))
    _client_login(throttled, CLIENT_ID, CLIENT_SECRET)
    _user_login(throttled, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_failures_are_counted_again_after_the_window(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(
        tmp_path / "data", sqlite_url, login_max_failures=1, login_window_seconds=1
    )
    runtime = build_runtime(settings)
    try:
        _client_failure(runtime)
        assert isinstance(_client_failure(runtime), LoginThrottled)
        time.sleep(1.1)
        assert isinstance(_client_failure(runtime), InvalidCredentials)
    finally:
        runtime.db.dispose()


def _parallel_failures(runtime: Runtime, attempts: int) -> list[BaseException]:
    start = threading.Barrier(attempts)
    outcomes: list[BaseException] = []

    def attempt() -> None:
        start.wait()
        try:
            _client_login(runtime, CLIENT_ID, "wrong-secret")
        except BaseException as exc:  # noqa: BLE001  (collected and asserted by the caller)
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_parallel_failed_logins_are_each_refused_and_none_crashes(
    tmp_path: Path, database_url: str
) -> None:
    runtime = build_runtime(make_settings(tmp_path / "data", database_url))
    try:
        outcomes = _parallel_failures(runtime, 8)
    finally:
        runtime.db.dispose()
    assert [type(o) for o in outcomes] == [InvalidCredentials] * 8


def test_parallel_attempts_cannot_exceed_max_failures(throttled: Runtime) -> None:
    outcomes = _parallel_failures(throttled, 12)
    kinds = sorted(type(o).__name__ for o in outcomes)
    assert kinds == ["InvalidCredentials"] * 3 + ["LoginThrottled"] * 9
