"""A small synchronous client of the ldapkeeper HTTP API for the command line.

It logs in with Universal Auth, reuses a cached token while it is fresh, logs in again when
the token has expired or the server answers 401, and turns every failure into one of two
exceptions whose message is a single line: ``ApiError`` (the server refused) and
``ApiUnreachable`` (no answer).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any

import httpx

from ldapkeeper.cli import config
from ldapkeeper.cli.config import CachedToken, Credentials

JsonObject = dict[str, Any]

LOGIN_PATH = "/api/v1/auth/universal-auth/login"
# Creates and rotations bind to directories (15 s per LDAP operation by default, retried).
TIMEOUT = httpx.Timeout(120.0, connect=10.0)
# Log in again a little before the token expires rather than send one about to die.
EXPIRY_MARGIN = timedelta(seconds=60)


def _user_agent() -> str:
    try:
        return f"ldapkeeper-cli/{version('ldapkeeper')}"
    except PackageNotFoundError:
        return "ldapkeeper-cli"


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return re.sub(r"\s+", " ", text).strip()


class ApiError(Exception):
    """The server answered with an error: its status, message (one line) and details code."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class ApiUnreachable(Exception):
    """No HTTP answer: refused, timed out, DNS or TLS failure (one-line message)."""


def error_message(response: httpx.Response) -> tuple[str, str | None]:
    """The message and ``details.code`` of an error response in the API's envelope.

    A validation failure's list of ``{path, message}`` becomes ``path: message; ...``; a
    body that is not the envelope becomes ``HTTP <status>``.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"HTTP {response.status_code} {response.reason_phrase}".strip(), None
    message = body.get("message")
    if isinstance(message, list):
        parts = []
        for issue in message:
            if isinstance(issue, dict):
                path, text = issue.get("path", ""), issue.get("message", "")
                parts.append(f"{path}: {text}" if path else str(text))
            else:
                parts.append(str(issue))
        text = "; ".join(parts)
    elif isinstance(message, str) and message:
        text = message
    else:
        text = str(body.get("error") or f"HTTP {response.status_code}")
    details = body.get("details")
    code = details.get("code") if isinstance(details, dict) else None
    return one_line(text), code if isinstance(code, str) else None


def _json_object(response: httpx.Response) -> JsonObject:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(response.status_code, "the server's answer is not a JSON object")
    return body


class ApiClient:
    """Authenticated requests to one server with one machine identity."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        transport: httpx.BaseTransport | None = None,
        persist_token: bool = True,
    ) -> None:
        self.credentials = credentials
        self._persist_token = persist_token
        self._http = httpx.Client(
            base_url=credentials.url,
            timeout=TIMEOUT,
            transport=transport,
            headers={"User-Agent": _user_agent(), "Accept": "application/json"},
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        token: str | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            return self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.TimeoutException:
            raise ApiUnreachable(f"no answer from {self.credentials.url} (timed out)") from None
        except httpx.HTTPError as exc:
            reason = one_line(str(exc)) or type(exc).__name__
            raise ApiUnreachable(f"cannot reach {self.credentials.url}: {reason}") from None

    def login(self) -> CachedToken:
        """Log in with the client id and secret and keep the new token.

        Raises:
            ApiError: the server refused the credentials (wrong secret, throttled, ...).
            ApiUnreachable: no answer.
        """
        response = self._send(
            "POST",
            LOGIN_PATH,
            json={
                "clientId": self.credentials.client_id,
                "clientSecret": self.credentials.client_secret,
            },
        )
        if response.is_error:
            message, code = error_message(response)
            raise ApiError(
                response.status_code,
                f"login to {self.credentials.url} as {self.credentials.client_id} failed: "
                f"{message}",
                code,
            )
        body = _json_object(response)
        access_token, expires_in = body.get("accessToken"), body.get("expiresIn")
        if not isinstance(access_token, str) or not isinstance(expires_in, int):
            raise ApiError(response.status_code, "the login answer holds no access token")
        lifetime = timedelta(seconds=expires_in)
        token = CachedToken(
            access_token, datetime.now(UTC) + lifetime - min(EXPIRY_MARGIN, lifetime / 10)
        )
        self.credentials = replace(self.credentials, token=token)
        if self._persist_token:
            config.store_token(self.credentials)
        return token

    def _token(self) -> str:
        token = self.credentials.token
        if token is None or not token.is_fresh(datetime.now(UTC)):
            token = self.login()
        return token.access_token

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> JsonObject:
        """Send an authenticated request and return the JSON object it answers.

        A 401 on a cached token logs in once more and retries.

        Raises:
            ApiError: the server answered with an error status.
            ApiUnreachable: no answer.
        """
        cached = self.credentials.token
        token = self._token()
        response = self._send(method, path, params=params, json=json, token=token)
        if response.status_code == 401 and cached is not None and cached.access_token == token:
            # The cached token was revoked or signed with a key the server no longer has.
            token = self.login().access_token
            response = self._send(method, path, params=params, json=json, token=token)
        if response.is_error:
            message, code = error_message(response)
            raise ApiError(response.status_code, message, code)
        return _json_object(response)

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> JsonObject:
        return self.request("GET", path, params=params)

    def post(
        self, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> JsonObject:
        return self.request("POST", path, json=json, params=params)

    def delete(self, path: str, *, params: dict[str, Any] | None = None) -> JsonObject:
        return self.request("DELETE", path, params=params)


def open_client() -> ApiClient:
    """A client with the credentials of the environment or of ``ldapkeeper login``.

    Raises:
        config.ConfigError: when there are none.
    """
    return ApiClient(config.resolve())
