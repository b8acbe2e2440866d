"""A real ``ldapkeeper serve`` child process, in its own process group, for crash tests.

The tests start it, talk to it over HTTP, and kill its whole process group with SIGKILL
from outside (no cleanup handler runs), then start it again on the same data directory.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.app import ADMIN_EMAIL, ADMIN_PASSWORD, CLIENT_ID, CLIENT_SECRET
from tests.support.procs import free_port

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def _command() -> list[str]:
    """The installed ``ldapkeeper`` script next to this interpreter, else ``-m``."""
    script = Path(sys.executable).parent / "ldapkeeper"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "ldapkeeper.cli.main", "serve"]


class ServerProcess:
    """``ldapkeeper serve`` on SQLite in ``data_dir``, on a loopback port of its own.

    ``start(hold_at=step)`` sets the engine's test-only hold switch: the process writes
    ``hold_file`` and blocks when a rotation reaches ``step``.
    """

    def __init__(self, data_dir: Path, *, extra_env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hold_file = data_dir / "hold-reached"
        self.log_path = data_dir / "server.log"
        self.root_key = base64.b64encode(secrets.token_bytes(32)).decode()
        self.extra_env = dict(extra_env or {})
        self.starts = 0
        self.kills = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._token: str | None = None
        self._project_id: str | None = None

    # -- process control -----------------------------------------------------------------

    def _env(self, hold_at: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LDAPKEEPER_")}
        env.update(
            {
                "LDAPKEEPER_HOST": "127.0.0.1",
                "LDAPKEEPER_PORT": str(self.port),
                "LDAPKEEPER_DATA_DIR": str(self.data_dir),
                "LDAPKEEPER_ROOT_KEY": self.root_key,
                "LDAPKEEPER_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
                "LDAPKEEPER_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "LDAPKEEPER_BOOTSTRAP_CLIENT_ID": CLIENT_ID,
                "LDAPKEEPER_BOOTSTRAP_CLIENT_SECRET": CLIENT_SECRET,
                "LDAPKEEPER_ALLOWED_NETWORKS": "127.0.0.0/8",
                "LDAPKEEPER_LDAP_TIMEOUT_SECONDS": "5",
                "LDAPKEEPER_LOG_LEVEL": "WARNING",
            }
        )
        env.update(self.extra_env)
        if hold_at is not None:
            env["LDAPKEEPER_TEST_HOLD_AT"] = hold_at
            env["LDAPKEEPER_TEST_HOLD_FILE"] = str(self.hold_file)
        return env

    @property
    def pid(self) -> int | None:
        """The server's process id (its process group's), while it runs."""
        return None if self._proc is None else self._proc.pid

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, hold_at: str | None = None) -> None:
        """Start the server (a new session, so a new process group); wait until it answers."""
        if self.is_running:
            raise RuntimeError("the server is already running")
        self.hold_file.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap()
        self._proc = subprocess.Popen(
            _command(),
            env=self._env(hold_at),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"ldapkeeper exited with {self._proc.returncode}{self._tail()}")
            try:
                if httpx.get(f"{self.url}/api/status", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ldapkeeper did not answer in {START_TIMEOUT}s{self._tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the whole process group from outside, as a crash would."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.kills += 1
        self._reap()

    def stop(self) -> None:
        """SIGTERM the process group (SIGKILL if it lingers)."""
        proc = self._proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(STOP_TIMEOUT)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait(STOP_TIMEOUT)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, *, hold_at: str | None = None) -> None:
        self.stop()
        self.start(hold_at=hold_at)

    def wait_for_hold(self, timeout: float = 20.0, *, rearm: bool = False) -> str:
        """Wait until the process reports it is holding at a step; returns the step.

        ``rearm`` removes the report afterwards, so the next rotation that reaches the
        step (started after this call returns) reports again.
        """
        deadline = time.monotonic() + timeout
        while not (self.hold_file.exists() and self.hold_file.read_text()):
            if not self.is_running:
                raise RuntimeError(f"ldapkeeper exited before the hold{self._tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no hold within {timeout}s{self._tail()}")
            time.sleep(0.01)
        step = self.hold_file.read_text()
        if rearm:
            self.hold_file.unlink()
        return step

    def _tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- server log ---\n" + "\n".join(text)

    # -- HTTP ----------------------------------------------------------------------------

    def token(self) -> str:
        """The bootstrap admin identity's access token (tokens survive restarts)."""
        if self._token is None:
            response = httpx.post(
                f"{self.url}/api/v1/auth/universal-auth/login",
                json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
                timeout=10,
            )
            response.raise_for_status()
            self._token = str(response.json()["accessToken"])
        return self._token

    def client(self, *, timeout: float = 30.0) -> httpx.Client:
        """An HTTP client with the admin's token (one per thread)."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=timeout,
        )

    def project_id(self) -> str:
        """The bootstrap project's id."""
        if self._project_id is None:
            with self.client() as client:
                response = client.get("/api/v1/projects")
                response.raise_for_status()
                self._project_id = str(response.json()["projects"][0]["id"])
        return self._project_id


def json_of(response: httpx.Response) -> Any:
    """The body, or a failure that shows the body."""
    assert response.status_code == 200, f"{response.status_code} {response.text}"
    return response.json()
