"""Helpers to set up connections and rotations through the API against real directories."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ldapkeeper.db.models import SecretRotation
from ldapkeeper.rotations.engine import RotationEngine
from ldapkeeper.rotations.schedule import MAX_FAILURES
from ldapkeeper.rotations.scheduler import RotationWorker
from ldapkeeper.rotations.service import RotationService
from tests.support.app import Api
from tests.support.slapd import SlapdServer


def create_connection(
    api: Api,
    *,
    url: str,
    dn: str,
    password: str,
    ca_pem: str | None,
    provider: str = "open-ldap",
    name: str = "directory",
    start_tls: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "method": "simple-bind",
        "projectId": api.project_id,
        "credentials": {
            "provider": provider,
            "url": url,
            "dn": dn,
            "password": password,
            "sslRejectUnauthorized": True,
            "startTls": start_tls,
        },
    }
    if ca_pem:
        body["credentials"]["sslCertificate"] = ca_pem
    response = api.client.post("/api/v1/app-connections/ldap", json=body, headers=api.admin)
    assert response.status_code == 200, response.text
    connection: dict[str, Any] = response.json()["appConnection"]
    return connection


def slapd_admin_connection(api: Api, slapd: SlapdServer, name: str = "slapd") -> dict[str, Any]:
    """A connection binding as the pwadmins member (may reset anyone's password) over ldaps."""
    return create_connection(
        api,
        url=slapd.ldaps_url,
        dn=slapd.admin_dn,
        password=slapd.admin_password,
        ca_pem=slapd.ca_pem,
        name=name,
    )


def rotation_body(
    api: Api,
    connection_id: str,
    dn: str,
    *,
    name: str = "svc",
    method: str = "connection-principal",
    temporary_password: str | None = None,
    secret_path: str = "/ldap",
    mapping: tuple[str, str] = ("LDAP_DN", "LDAP_PASSWORD"),
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "projectId": api.project_id,
        "connectionId": connection_id,
        "environment": "dev",
        "secretPath": secret_path,
        "rotationInterval": 30,
        "parameters": {"dn": dn, "rotationMethod": method},
        "secretsMapping": {"dn": mapping[0], "password": mapping[1]},
    }
    if temporary_password is not None:
        body["temporaryParameters"] = {"password": temporary_password}
    body.update(extra)
    return body


def create_rotation(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(
        "/api/v2/secret-rotations/ldap-password", json=body, headers=api.admin
    )
    assert response.status_code == 200, response.text
    rotation: dict[str, Any] = response.json()["secretRotation"]
    return rotation


def active_password(api: Api, rotation_id: str) -> str:
    response = api.client.get(
        f"/api/v2/secret-rotations/ldap-password/{rotation_id}/generated-credentials",
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    password: str = body["generatedCredentials"][body["activeIndex"]]["password"]
    return password


def stored_secret(api: Api, name: str, *, path: str = "/ldap") -> str:
    response = api.client.get(
        f"/api/v3/secrets/raw/{name}",
        params={"workspaceId": api.project_id, "environment": "dev", "secretPath": path},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    value: str = response.json()["secret"]["secretValue"]
    return value


# -- the engine and worker on a fake clock -----------------------------------------------------


class FakeClock:
    """A settable clock (the ``ldapkeeper.clock.Clock`` protocol)."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


class StepGate:
    """An engine ``StepHook`` that holds a rotation at chosen steps until released."""

    def __init__(self) -> None:
        self._open: dict[str, threading.Event] = {}
        self._reached: dict[str, int] = {}
        self._arrivals = threading.Condition()

    def arm(self, step: str) -> None:
        self._open[step] = threading.Event()
        with self._arrivals:
            self._reached[step] = 0

    def __call__(self, step: str) -> None:
        gate = self._open.get(step)
        if gate is None or gate.is_set():
            return
        with self._arrivals:
            self._reached[step] += 1
            self._arrivals.notify_all()
        assert gate.wait(GATE_TIMEOUT), f"the test never released step {step}"

    def wait_reached(self, step: str, count: int = 1) -> None:
        """Until ``count`` rotations are held at ``step`` (or were, before its release)."""
        with self._arrivals:
            reached = self._arrivals.wait_for(lambda: self._reached[step] >= count, GATE_TIMEOUT)
        assert reached, f"fewer than {count} rotations reached {step}"

    def release(self, step: str) -> None:
        self._open[step].set()

    def release_all(self) -> None:
        for gate in self._open.values():
            gate.set()


GATE_TIMEOUT = 20.0
#: A Monday afternoon, far from any real "now" (the API's tokens use real time).
START = datetime(2030, 3, 11, 15, 0, tzinfo=UTC)


@dataclass
class Scheduling:
    """The API harness with its engine and service on a fake clock, and a worker."""

    api: Api
    clock: FakeClock
    engine: RotationEngine
    worker: RotationWorker
    gate: StepGate
    failures: list[tuple[str, str]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def join_threads(self) -> None:
        for thread in self.threads:
            thread.join(GATE_TIMEOUT)
            assert not thread.is_alive(), "a rotation thread did not finish"

    def run_due(self) -> int:
        """Claim what is due now, run it to the end; how many were claimed."""
        claimed = self.worker.run_once()
        assert self.worker.wait_idle(GATE_TIMEOUT), "the worker did not finish"
        return claimed

    def row(self, rotation_id: str) -> SecretRotation:
        with self.api.runtime.db.read() as session:
            rotation = session.get(SecretRotation, rotation_id)
            assert rotation is not None
            return rotation

    def fail_until_exhausted(self, rotation_id: str) -> list[timedelta]:
        """Run each retry when due while the directory is down; the delays between them."""
        delays: list[timedelta] = []
        for _ in range(MAX_FAILURES):
            due = self.row(rotation_id).due_at
            assert due is not None
            self.clock.set(max(due, self.clock.now()))
            assert self.run_due() == 1
            after = self.row(rotation_id).due_at
            assert after is not None
            delays.append(after - self.clock.now())
        return delays


def build_scheduling(
    api: Api, *, on_failure: Callable[[SecretRotation, str], None] | None = None
) -> Scheduling:
    """Swap the harness's engine and rotation service for ones on a fake clock."""
    clock = FakeClock(START)
    gate = StepGate()
    failures: list[tuple[str, str]] = []

    def failed(rotation: SecretRotation, message: str) -> None:
        failures.append((rotation.id, message))
        if on_failure is not None:
            on_failure(rotation, message)

    runtime = api.runtime
    engine = RotationEngine(
        db=runtime.db,
        keyring=runtime.keyring,
        directory=runtime.directory,
        clock=clock,
        on_failure=failed,
        hold=gate,
    )
    runtime.engine = engine
    runtime.rotations = RotationService(
        db=runtime.db,
        keyring=runtime.keyring,
        directory=runtime.directory,
        engine=engine,
        clock=clock,
    )
    worker = RotationWorker(engine, concurrency=4)
    return Scheduling(api, clock, engine, worker, gate, failures)


@pytest.fixture
def scheduling(api: Api) -> Iterator[Scheduling]:
    """The API on a fake clock (starting at ``START``) with a worker driven by the test."""
    built = build_scheduling(api)
    yield built
    built.gate.release_all()
    built.join_threads()
    built.worker.stop()
