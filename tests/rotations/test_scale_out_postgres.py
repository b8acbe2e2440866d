"""Scale-out on PostgreSQL: three ``ldapkeeper worker`` processes share 300 due rotations.

The rotations are created through the API (each rotates once at creation, against the real
slapd), then all made due at once by setting ``due_at`` to now in the database. Three
worker processes drain them; one is killed with SIGKILL while it holds claims. Its leases
are short (``LDAPKEEPER_LEASE_SECONDS``), so the other two take its rotations over and
drive any attempt it left unfinished. Afterwards every rotation has exactly one attempt in
this round, committed, and every stored password binds.

Then the rule "while a bind account changes its own password, no other work uses that
connection" across processes: one worker is held (the engine's test-only hold switch) in
the middle of a reset through a connection; a second worker, asked to rotate that
connection's own bind account, waits on PostgreSQL for it and changes nothing until the
first one dies. Nothing here is timed: the deadlines only stop a hung run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import ldap  # type: ignore[import-untyped, unused-ignore]
import pytest
from sqlalchemy import func, select, text, update
from tests.support.app import Api, build_api
from tests.support.database import drop_postgres, fresh_postgres_url
from tests.support.rotations import slapd_admin_connection
from tests.support.slapd import SlapdServer

from ldapkeeper.db.models import RotationAttempt, SecretRotation

ROTATIONS = 300
WORKERS = 3
LEASE_SECONDS = 3
DRAIN_TIMEOUT = 120.0
START_TIMEOUT = 60.0


@dataclass
class WorkerProcess:
    """One ``ldapkeeper worker`` child in its own process group."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def worker_id(self) -> str | None:
        found = re.search(r"ldapkeeper worker (\w+): running", self.log_path.read_text())
        return found.group(1) if found else None

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)
        self.log.close()

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])


def start_worker(
    api: Api, data_dir: Path, *, hold_at: str | None = None, concurrency: int = 8
) -> WorkerProcess:
    settings = api.runtime.settings
    assert settings.root_key is not None
    data_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAPKEEPER_")}
    env.update(
        {
            "LDAPKEEPER_DATA_DIR": str(data_dir),
            "LDAPKEEPER_DATABASE_URL": api.runtime.db.url,
            "LDAPKEEPER_ROOT_KEY": settings.root_key.get_secret_value(),
            "LDAPKEEPER_ALLOWED_NETWORKS": "127.0.0.0/8",
            "LDAPKEEPER_LDAP_TIMEOUT_SECONDS": "5",
            "LDAPKEEPER_LEASE_SECONDS": str(LEASE_SECONDS),
            "LDAPKEEPER_WORKER_POLL_SECONDS": "0.2",
            "LDAPKEEPER_WORKER_CONCURRENCY": str(concurrency),
            "LDAPKEEPER_LOG_LEVEL": "WARNING",
        }
    )
    if hold_at is not None:
        env["LDAPKEEPER_TEST_HOLD_AT"] = hold_at
        env["LDAPKEEPER_TEST_HOLD_FILE"] = str(data_dir / "hold-reached")
    script = Path(sys.executable).parent / "ldapkeeper"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ldapkeeper.cli.main"]
    log_path = data_dir / "worker.log"
    log = open(log_path, "ab")  # noqa: SIM115 — closed in stop()
    proc = subprocess.Popen(
        [*command, "worker"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return WorkerProcess(proc, log_path, log)


@pytest.fixture(scope="module")
def postgres_api(tmp_path_factory: pytest.TempPathFactory, postgres_template: str) -> Iterator[Api]:
    """The app (no worker of its own) on a fresh PostgreSQL database from the template."""
    name, url = fresh_postgres_url(postgres_template)
    api = build_api(tmp_path_factory.mktemp("api"), url)
    try:
        yield api
    finally:
        api.client.close()
        api.runtime.db.dispose()
        drop_postgres(name)


def create_rotations(api: Api, slapd: SlapdServer, count: int) -> list[str]:
    """``count`` reset rotations through the API, each on its own new slapd user."""
    connection = slapd_admin_connection(api, slapd, name="scale-out")
    ids: list[str] = []
    for index in range(count):
        dn = slapd.add_user(f"scale-{os.urandom(4).hex()}-{index}", "Initial-password-1")
        response = api.client.post(
            "/api/v2/secret-rotations/ldap-password",
            json={
                "name": f"scale-{index}",
                "projectId": api.project_id,
                "connectionId": connection["id"],
                "environment": "dev",
                "secretPath": "/scale",
                "rotationInterval": 30,
                "parameters": {"dn": dn},
                "secretsMapping": {"dn": f"DN_{index}", "password": f"PASSWORD_{index}"},
            },
            headers=api.admin,
        )
        assert response.status_code == 200, response.text
        ids.append(response.json()["secretRotation"]["id"])
    return ids


def attempts_since(api: Api, since: datetime) -> dict[str, list[str]]:
    """Rotation id -> states of its attempts started at or after ``since``."""
    with api.runtime.db.read() as session:
        rows = session.execute(
            select(RotationAttempt.rotation_id, RotationAttempt.state).where(
                RotationAttempt.started_at >= since
            )
        ).all()
    found: dict[str, list[str]] = {}
    for rotation_id, state in rows:
        found.setdefault(rotation_id, []).append(state)
    return found


def committed_count(api: Api, since: datetime) -> int:
    with api.runtime.db.read() as session:
        return int(
            session.scalar(
                select(func.count(func.distinct(RotationAttempt.rotation_id))).where(
                    RotationAttempt.started_at >= since, RotationAttempt.state == "committed"
                )
            )
            or 0
        )


def leases_of(api: Api, worker_id: str) -> set[str]:
    with api.runtime.db.read() as session:
        return set(
            session.scalars(
                select(SecretRotation.id).where(SecretRotation.lease_owner.like(f"{worker_id}-%"))
            )
        )


def wait_for(
    condition: str, check: Callable[[], object], workers: list[WorkerProcess], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for worker in workers:
            if worker.proc.poll() is not None and worker.proc.returncode != -signal.SIGKILL:
                raise AssertionError(f"a worker exited:\n{worker.tail()}")
        if time.monotonic() > deadline:
            logs = "\n---\n".join(w.tail() for w in workers)
            raise AssertionError(f"timed out waiting until {condition}\n{logs}")
        time.sleep(0.02)


@dataclass
class Round:
    rotation_ids: list[str]
    attempts: dict[str, list[str]]
    taken_over: set[str]


@pytest.fixture(scope="module")
def scale_out_round(
    postgres_api: Api, slapd: SlapdServer, tmp_path_factory: pytest.TempPathFactory
) -> Round:
    """300 rotations made due at once, drained by three workers, one of them SIGKILLed
    while it holds claims."""
    api = postgres_api
    rotation_ids = create_rotations(api, slapd, ROTATIONS)
    base = tmp_path_factory.mktemp("workers")
    workers = [start_worker(api, base / f"worker-{n}") for n in range(WORKERS)]
    try:
        wait_for("every worker runs", lambda: all(w.worker_id() for w in workers), workers, 60)
        since = datetime.now(UTC)
        with api.runtime.db.write() as session:
            session.execute(update(SecretRotation).values(due_at=since))
        victim = workers[0]
        victim_id = victim.worker_id()
        assert victim_id is not None
        wait_for(
            "the first worker holds claims, a while into the round",
            lambda: committed_count(api, since) >= ROTATIONS // 10 and leases_of(api, victim_id),
            workers,
            DRAIN_TIMEOUT,
        )
        victim.kill()
        held_at_kill = leases_of(api, victim_id)
        wait_for(
            "every rotation is committed",
            lambda: committed_count(api, since) == ROTATIONS,
            workers,
            DRAIN_TIMEOUT,
        )
    finally:
        for worker in workers:
            worker.stop()
    return Round(rotation_ids, attempts_since(api, since), held_at_kill)


def test_every_due_rotation_is_done_exactly_once_by_three_workers(scale_out_round: Round) -> None:
    not_once = {
        rotation_id: states
        for rotation_id in scale_out_round.rotation_ids
        if (states := scale_out_round.attempts.get(rotation_id, [])) != ["committed"]
    }
    assert not_once == {}


def test_rotations_claimed_by_the_killed_worker_are_taken_over(
    postgres_api: Api, scale_out_round: Round
) -> None:
    assert scale_out_round.taken_over, "the killed worker held no claim when it died"
    with postgres_api.runtime.db.read() as session:
        stuck = session.scalars(
            select(SecretRotation.id).where(
                SecretRotation.id.in_(scale_out_round.taken_over),
                SecretRotation.lease_owner.is_not(None),
            )
        ).all()
    assert stuck == []
    assert all(scale_out_round.attempts[r] == ["committed"] for r in scale_out_round.taken_over)


def test_every_stored_password_binds_after_the_round(
    postgres_api: Api, slapd: SlapdServer, scale_out_round: Round
) -> None:
    api = postgres_api
    lost = []
    for index, rotation_id in enumerate(scale_out_round.rotation_ids):
        params = {"workspaceId": api.project_id, "environment": "dev", "secretPath": "/scale"}
        dn = api.client.get(f"/api/v3/secrets/raw/DN_{index}", params=params, headers=api.admin)
        password = api.client.get(
            f"/api/v3/secrets/raw/PASSWORD_{index}", params=params, headers=api.admin
        )
        assert dn.status_code == 200, dn.text
        assert password.status_code == 200, password.text
        stored_dn = dn.json()["secret"]["secretValue"]
        if not slapd.can_bind(stored_dn, password.json()["secret"]["secretValue"]):
            lost.append(rotation_id)
    assert lost == []


# -- a bind account changing its own password, across processes ------------------------------


@dataclass
class SharedConnection:
    """A connection binding as a pwadmins member, a reset through it and its own rotation."""

    connection_id: str
    reset_id: str
    self_id: str
    bind_dn: str
    waited: bool
    self_attempts_while_waiting: int


def self_attempts(api: Api, rotation_id: str, since: datetime) -> int:
    with api.runtime.db.read() as session:
        return int(
            session.scalar(
                select(func.count(RotationAttempt.id)).where(
                    RotationAttempt.rotation_id == rotation_id, RotationAttempt.started_at >= since
                )
            )
            or 0
        )


def advisory_lock_waiters(api: Api) -> int:
    """Sessions of this database waiting for an advisory lock (the engine's connection lock)."""
    with api.runtime.db.read() as session:
        return int(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                    "WHERE l.locktype = 'advisory' AND NOT l.granted "
                    "AND d.datname = current_database()"
                )
            )
            or 0
        )


def make_due(api: Api, rotation_id: str) -> None:
    with api.runtime.db.write() as session:
        session.execute(
            update(SecretRotation)
            .where(SecretRotation.id == rotation_id)
            .values(due_at=datetime.now(UTC))
        )


def committed_since(api: Api, rotation_id: str, since: datetime) -> bool:
    with api.runtime.db.read() as session:
        return (
            session.scalar(
                select(RotationAttempt.id).where(
                    RotationAttempt.rotation_id == rotation_id,
                    RotationAttempt.started_at >= since,
                    RotationAttempt.state == "committed",
                )
            )
            is not None
        )


@pytest.fixture(scope="module")
def self_change_waits(
    postgres_api: Api,
    slapd: SlapdServer,
    tmp_path_factory: pytest.TempPathFactory,
    scale_out_round: Round,
) -> Iterator[SharedConnection]:
    """Worker A held inside a reset through the connection (holding the connection's lock
    shared); worker B asked to rotate the bind account itself. B must wait until A is
    killed, then both rotations finish (A's taken over after its lease)."""
    api = postgres_api
    bind_password = "Bind-account-password-1"
    bind_dn = slapd.add_user(f"binder-{os.urandom(4).hex()}", bind_password)
    with slapd.root_connection() as conn:
        conn.modify_s(slapd.admins_group_dn, [(ldap.MOD_ADD, "member", [bind_dn.encode()])])
    target_dn = slapd.add_user(f"target-{os.urandom(4).hex()}", "Target-password-1")
    response = api.client.post(
        "/api/v1/app-connections/ldap",
        json={
            "name": "shared-binder",
            "method": "simple-bind",
            "projectId": api.project_id,
            "credentials": {
                "provider": "open-ldap",
                "url": slapd.ldaps_url,
                "dn": bind_dn,
                "password": bind_password,
                "sslCertificate": slapd.ca_pem,
            },
        },
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    connection_id = response.json()["appConnection"]["id"]
    ids = []
    for name, dn in (("shared-reset", target_dn), ("shared-self", bind_dn)):
        created = api.client.post(
            "/api/v2/secret-rotations/ldap-password",
            json={
                "name": name,
                "projectId": api.project_id,
                "connectionId": connection_id,
                "environment": "dev",
                "secretPath": f"/{name}",
                "rotationInterval": 30,
                "parameters": {"dn": dn},
            },
            headers=api.admin,
        )
        assert created.status_code == 200, created.text
        ids.append(created.json()["secretRotation"]["id"])
    reset_id, self_id = ids
    base = tmp_path_factory.mktemp("shared")
    since = datetime.now(UTC)
    # One slot: the held reset fills it, so this worker claims nothing else.
    holder = start_worker(api, base / "holder", hold_at="touched-committed", concurrency=1)
    waiter: WorkerProcess | None = None
    try:
        make_due(api, reset_id)
        hold_file = base / "holder" / "hold-reached"
        wait_for("worker A holds inside the reset", hold_file.exists, [holder], START_TIMEOUT)
        waiter = start_worker(api, base / "waiter")
        make_due(api, self_id)
        # Until B either waits for the connection's lock or (wrongly) starts the change.
        wait_for(
            "worker B waits for the connection, or starts the self-change",
            lambda: advisory_lock_waiters(api) > 0 or self_attempts(api, self_id, since) > 0,
            [holder, waiter],
            START_TIMEOUT,
        )
        time.sleep(0.5)  # a B that did not wait would begin its attempt meanwhile
        waited = advisory_lock_waiters(api) > 0
        attempts_while_waiting = self_attempts(api, self_id, since)
        holder.kill()
        wait_for(
            "both rotations are committed",
            lambda: committed_since(api, self_id, since) and committed_since(api, reset_id, since),
            [waiter],
            DRAIN_TIMEOUT,
        )
        yield SharedConnection(
            connection_id, reset_id, self_id, bind_dn, waited, attempts_while_waiting
        )
    finally:
        holder.stop()
        if waiter is not None:
            waiter.stop()


def test_self_change_in_another_process_waits_for_a_reset_through_its_connection(
    self_change_waits: SharedConnection,
) -> None:
    assert self_change_waits.waited
    assert self_change_waits.self_attempts_while_waiting == 0


def test_both_rotations_finish_and_the_connection_still_binds(
    postgres_api: Api, slapd: SlapdServer, self_change_waits: SharedConnection
) -> None:
    api = postgres_api
    check = api.client.post(
        f"/api/v1/app-connections/ldap/{self_change_waits.connection_id}/check", headers=api.admin
    )
    assert check.status_code == 200, check.text
    assert check.json()["status"] == "ok"
    for rotation_id in (self_change_waits.reset_id, self_change_waits.self_id):
        body = api.client.get(
            f"/api/v2/secret-rotations/ldap-password/{rotation_id}/generated-credentials",
            headers=api.admin,
        ).json()
        active = body["generatedCredentials"][body["activeIndex"]]
        assert slapd.can_bind(active["dn"], active["password"])
