"""Figure 1: rotation throughput of the service against a bare python-ldap loop.

For each database backend, one ``ldapkeeper serve`` (server + in-process worker; on
PostgreSQL two processes on one port, ``LDAPKEEPER_SERVE_PROCESSES=2``, one per core of the
machine: SQLite is written by one process) and one private slapd shared by everything:

- ``bare``: 8 threads, each with one admin connection bound over ldaps:// and reused,
  ``passwd_s`` on the target, then a bind as the target on a fresh ldaps:// connection;
- ``rotate_now``: the same accounts rotated through ``POST .../rotate-secrets`` by 8
  concurrent HTTP clients (keep-alive, one ``http.client`` connection per client);
- ``scheduled``: all rotations made due at once (``due_at`` set to now in the database)
  and drained by the server's workers, which run 8 at once in all (worker concurrency and
  per-host limit 8 divided between the processes: the bare loop's 8 threads).

The bare loop runs just before and just after each service run, on the same accounts; the
ratio is the service's rate over the mean of those two bare rates (the machine is shared,
so the directory's own speed drifts). Then (PostgreSQL) 10,000 due rotations, written
through the service's own code (no LDAP at creation), are drained by 1, 2 and 4
``ldapkeeper worker`` processes: time and rate.
"""

from __future__ import annotations

import http.client
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import _common as c

CONCURRENCY = 8
#: ``serve`` processes: SQLite is written by one process; on PostgreSQL the service scales
#: out, here one process per core of the machine (``LDAPKEEPER_SERVE_PROCESSES``).
SERVE_PROCESSES = {"sqlite": 1, "postgresql": 2}


class Service:
    """A running ``ldapkeeper serve`` with an admin token: ``processes`` processes on one
    port, each running its share of the 8 rotations at once."""

    def __init__(
        self, backend: str, database_url: str, workdir: Path, processes: int = 1, **env: str
    ) -> None:
        self.backend = backend
        self.database_url = database_url
        self.port = c.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / f"data-{backend}-{self.port}"
        self.data_dir.mkdir(parents=True)
        self.root_key = c.root_key()
        self.env = c.server_env(
            self.data_dir,
            database_url,
            LDAPKEEPER_PORT=str(self.port),
            LDAPKEEPER_ROOT_KEY=self.root_key,
            LDAPKEEPER_SERVE_PROCESSES=str(processes),
            LDAPKEEPER_WORKER_CONCURRENCY=str(CONCURRENCY),
            # As many directory operations at once against the one directory as the bare
            # loop's threads, shared out between the processes (each has its own worker).
            LDAPKEEPER_WORKER_PER_HOST_LIMIT=str(CONCURRENCY // processes),
            **env,
        )
        self.child = c.Child(["serve"], self.env, self.data_dir / "server.log")
        c.wait_http(self.base, self.child)
        self.token = c.admin_token(self.base)
        with self.client() as client:
            self.project_id = str(client.get("/api/v1/projects").json()["projects"][0]["id"])

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=120
        )

    def create_connection(self, dirx: c.Directory, name: str = "bench-admin") -> str:
        with self.client() as client:
            response = client.post(
                "/api/v1/app-connections/ldap",
                json=connection_body(dirx, self.project_id, name),
            )
        response.raise_for_status()
        return str(response.json()["appConnection"]["id"])

    def stop(self) -> None:
        self.child.stop()


def connection_body(dirx: c.Directory, project_id: str, name: str) -> dict[str, Any]:
    """The create body of an ldaps:// connection binding as the pwadmins member."""
    return {
        "name": name,
        "method": "simple-bind",
        "projectId": project_id,
        "credentials": {
            "provider": "open-ldap",
            "url": dirx.ldaps_url,
            "dn": dirx.server.admin_dn,
            "password": dirx.server.admin_password,
            "sslRejectUnauthorized": True,
            "sslCertificate": dirx.server.ca_pem,
        },
    }


def rotation_body(project_id: str, connection_id: str, index: int, dn: str) -> dict[str, Any]:
    return {
        "name": f"bench-{index}",
        "projectId": project_id,
        "connectionId": connection_id,
        "environment": "dev",
        "secretPath": "/bench",
        "rotationInterval": 30,
        "parameters": {"dn": dn, "rotationMethod": "connection-principal"},
        "secretsMapping": {"dn": f"DN_{index}", "password": f"PW_{index}"},
    }


def in_threads(service: Service, items: list[Any], call: Any) -> float:
    """``call(client, item)`` for every item from 8 client threads; seconds."""
    cursor = iter(items)
    lock = threading.Lock()

    def work(_thread: int) -> None:
        with service.client() as client:
            while True:
                with lock:
                    item = next(cursor, None)
                if item is None:
                    return
                call(client, item)

    return c.run_threads(CONCURRENCY, work)


def create_rotations(
    service: Service, connection_id: str, accounts: list[tuple[str, str]]
) -> tuple[list[str], float]:
    """One rotation per account through the API (each rotates at once); ids and seconds."""
    ids: list[str] = [""] * len(accounts)

    def create(client: httpx.Client, index: int) -> None:
        body = rotation_body(service.project_id, connection_id, index, accounts[index][0])
        response = client.post("/api/v2/secret-rotations/ldap-password", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"create failed: {response.status_code} {response.text}")
        ids[index] = str(response.json()["secretRotation"]["id"])

    elapsed = in_threads(service, list(range(len(accounts))), create)
    return ids, elapsed


def rotate_now(service: Service, rotation_ids: list[str]) -> float:
    """Rotate each once through the API with 8 concurrent clients; seconds.

    Each client is one keep-alive connection of the standard library's ``http.client``
    (as in the secret-read figure): the lightest client there is, so that the load
    generator, which shares the machine, takes as little of its CPU as it can."""
    cursor = iter(rotation_ids)
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {service.token}", "Content-Length": "0"}

    def work(_thread: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
        try:
            while True:
                with lock:
                    rotation_id = next(cursor, None)
                if rotation_id is None:
                    return
                path = f"/api/v2/secret-rotations/ldap-password/{rotation_id}/rotate-secrets"
                conn.request("POST", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"rotate failed: {response.status} {body[:300]!r}")
        finally:
            conn.close()

    return c.run_threads(CONCURRENCY, work)


def db_engine(database_url: str) -> sa.Engine:
    return sa.create_engine(database_url)


def db_now(engine: sa.Engine) -> datetime:
    now = datetime.now(UTC)
    # SQLite keeps naive UTC (the project's UTCDateTime type); PostgreSQL an aware value.
    return now.replace(tzinfo=None) if engine.dialect.name == "sqlite" else now


def make_all_due(engine: sa.Engine) -> datetime:
    """Every rotation due now; returns that moment."""
    now = db_now(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE secret_rotations SET due_at = :t"), {"t": now})
    return now


def committed_since(engine: sa.Engine, since: datetime) -> int:
    with engine.connect() as conn:
        count = conn.execute(
            sa.text(
                "SELECT count(DISTINCT rotation_id) FROM rotation_attempts "
                "WHERE state = 'committed' AND started_at >= :t"
            ),
            {"t": since},
        ).scalar_one()
    return int(count)


def wait_drained(engine: sa.Engine, since: datetime, total: int, timeout: float = 3600) -> None:
    """Until ``total`` rotations have an attempt committed that started after ``since``."""
    deadline = time.monotonic() + timeout
    pause = 0.05 if total <= 1000 else 0.5
    while committed_since(engine, since) < total:
        if time.monotonic() > deadline:
            raise RuntimeError("the due rotations were not drained in time")
        time.sleep(pause)


def scheduled(service: Service, total: int) -> float:
    """Make every rotation due at once; seconds until the worker has rotated them all."""
    engine = db_engine(service.database_url)
    try:
        started = time.perf_counter()
        since = make_all_due(engine)
        wait_drained(engine, since, total)
        return time.perf_counter() - started
    finally:
        engine.dispose()


def check_stored_passwords(service: Service, dirx: c.Directory, rotation_ids: list[str]) -> int:
    """Each rotation's active generated password binds; returns how many were checked."""
    with service.client() as client:
        for rotation_id in rotation_ids:
            body = client.get(
                f"/api/v2/secret-rotations/ldap-password/{rotation_id}/generated-credentials"
            ).json()
            active = body["generatedCredentials"][body["activeIndex"]]
            if not c.can_bind(dirx, active["dn"], active["password"]):
                raise RuntimeError(f"the stored password of {rotation_id} does not bind")
    return len(rotation_ids)


def beside_bare(
    name: str, dirx: c.Directory, accounts: list[tuple[str, str]], run: Any, check: Any
) -> dict[str, float]:
    """Bare loop, the service run (then ``check()``, before the bare loop changes the
    passwords again), bare loop again; prints and returns the figures."""
    count = len(accounts)
    before = c.bare_rotations(dirx, accounts, threads=CONCURRENCY)
    service_seconds = float(run())
    c.figure(f"{name}.stored_passwords_bind", check())
    after = c.bare_rotations(dirx, accounts, threads=CONCURRENCY)
    bare_rate = (count / before + count / after) / 2
    service_rate = count / service_seconds
    c.figure(f"{name}.bare_rate", bare_rate, "rotations/s")
    c.figure(f"{name}.service_rate", service_rate, "rotations/s")
    c.figure(f"{name}.ratio", service_rate / bare_rate, "(target >= 0.5)")
    return {"bare": bare_rate, "service": service_rate}


def run_backend(backend: str, dirx: c.Directory, count: int) -> None:
    with c.database(backend, dirx.workdir) as url:
        processes = SERVE_PROCESSES[backend]
        c.figure(f"{backend}.serve_processes", processes)
        service = Service(backend, url, dirx.workdir, processes)
        try:
            connection_id = service.create_connection(dirx)
            accounts = dirx.add_accounts(count, prefix=f"tp-{backend}")
            ids, created = create_rotations(service, connection_id, accounts)
            c.figure(f"{backend}.create.rate", count / created, "rotations/s")
            sample = ids[:: max(1, len(ids) // 50)]

            def check() -> int:
                return check_stored_passwords(service, dirx, sample)

            beside_bare(
                f"{backend}.rotate_now", dirx, accounts, lambda: rotate_now(service, ids), check
            )
            beside_bare(
                f"{backend}.scheduled", dirx, accounts, lambda: scheduled(service, count), check
            )
            c.figure(f"{backend}.server_rss", c.rss_tree_mib(service.child.pid), "MiB")
        finally:
            service.stop()


# ------------------------------------------------------------- drained by N workers


def insert_due_rotations(
    service: Service, connection_id: str, accounts: list[tuple[str, str]]
) -> None:
    """Write rotation rows through the project's own models and folder code (no LDAP):
    what a create leaves behind, minus its first rotation."""
    from ldapkeeper.db.models import SecretRotation
    from ldapkeeper.db.session import Database
    from ldapkeeper.projects.service import get_environment
    from ldapkeeper.rotations.schemas import LdapPasswordParameters
    from ldapkeeper.secrets.folders import ensure_folder

    db = Database(service.database_url)
    try:
        with db.write() as session:
            env = get_environment(session, project_id=service.project_id, slug="dev")
            folder = ensure_folder(
                session, project_id=service.project_id, environment_id=env.id, path="/drain"
            )
            folder_id, env_id = folder.id, env.id
        for start in range(0, len(accounts), 1000):
            with db.write() as session:
                for index in range(start, min(start + 1000, len(accounts))):
                    dn = accounts[index][0]
                    session.add(
                        SecretRotation(
                            project_id=service.project_id,
                            environment_id=env_id,
                            folder_id=folder_id,
                            connection_id=connection_id,
                            name=f"drain-{index}",
                            rotation_interval=30,
                            parameters=LdapPasswordParameters(dn=dn).model_dump(by_alias=True),
                            target_dn=dn.lower(),
                            secrets_mapping={"dn": f"DN_{index}", "password": f"PW_{index}"},
                        )
                    )
    finally:
        db.dispose()


def drain(dirx: c.Directory, total: int, worker_counts: list[int]) -> None:
    """``total`` due rotations drained by 1, 2 and 4 worker processes on PostgreSQL."""
    with c.database("postgresql", dirx.workdir) as url:
        service = Service("drain", url, dirx.workdir, LDAPKEEPER_RUN_WORKER="false")
        try:
            connection_id = service.create_connection(dirx)
            accounts = dirx.add_accounts(total, prefix="drain")
            insert_due_rotations(service, connection_id, accounts)
            engine = db_engine(url)
            for workers in worker_counts:
                children = [
                    c.Child(
                        ["worker"],
                        {**service.env, "LDAPKEEPER_DATA_DIR": str(service.data_dir / f"w{n}")},
                        service.data_dir / f"worker-{workers}-{n}.log",
                    )
                    for n in range(workers)
                ]
                try:
                    time.sleep(3)  # started and idle (they find nothing due yet)
                    started = time.perf_counter()
                    since = make_all_due(engine)
                    wait_drained(engine, since, total)
                    elapsed = time.perf_counter() - started
                finally:
                    for child in children:
                        child.stop()
                c.figure(f"postgresql.drain.{workers}_workers.seconds", elapsed, "s")
                c.figure(f"postgresql.drain.{workers}_workers.rate", total / elapsed, "rotations/s")
            engine.dispose()
        finally:
            service.stop()


def main(argv: list[str] | None = None) -> None:
    p = c.parser(__doc__ or "")
    p.add_argument("--count", type=int, default=None, help="accounts (default 1000)")
    p.add_argument("--drain", type=int, default=None, help="due rotations drained (10000)")
    args = p.parse_args(argv)
    count = args.count or (30 if args.quick else 1000)
    drain_total = args.drain if args.drain is not None else (40 if args.quick else 10_000)
    c.machine_summary()
    chosen = c.backends(args)
    with c.directory() as dirx:
        for backend in chosen:
            run_backend(backend, dirx, count)
        if drain_total and "postgresql" in chosen:
            drain(dirx, drain_total, [1, 2] if args.quick else [1, 2, 4])


if __name__ == "__main__":
    main()
