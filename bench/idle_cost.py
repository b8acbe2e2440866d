"""Figure 4: what a worker costs while nothing is due, with 100,000 rotations stored.

Rows are written in bulk through the project's models (one connection, one folder, none
due: half are scheduled 1 to 30 days ahead, half have auto-rotation off). Then:

- ``claim``: the worker's own claim (``RotationWorker.claim_due``: the due query with its
  join, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, in a write transaction) timed in this
  process; median and p99 of many calls;
- ``plan``: the database's plan for that query (it must use the ``due_at`` index);
- ``idle_cpu``: CPU used by an idle worker process (``ldapkeeper worker`` on PostgreSQL,
  ``ldapkeeper serve`` with its in-process worker on SQLite) over a quiet period, as a
  percentage of one core.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench import _common as c
from bench.rotation_throughput import Service

# The worker's due query (see ``RotationWorker.claim_due``), written out for EXPLAIN.
_DUE_QUERY = (
    "SELECT secret_rotations.id, app_connections.url "
    "FROM secret_rotations JOIN app_connections "
    "ON app_connections.id = secret_rotations.connection_id "
    "WHERE secret_rotations.due_at <= :now AND (secret_rotations.lease_until "
    "IS NULL OR secret_rotations.lease_until < :now) "
    "ORDER BY secret_rotations.due_at LIMIT 32"
)


def store_rotations(service: Service, connection_id: str, total: int) -> None:
    """``total`` rotation rows, none due, in bulk (models and folder code of the project)."""
    from ldapkeeper.db.models import SecretRotation
    from ldapkeeper.db.session import Database
    from ldapkeeper.projects.service import get_environment
    from ldapkeeper.rotations.schemas import LdapPasswordParameters
    from ldapkeeper.secrets.folders import ensure_folder

    db = Database(service.database_url)
    now = datetime.now(UTC)
    try:
        with db.write() as session:
            env = get_environment(session, project_id=service.project_id, slug="dev")
            folder = ensure_folder(
                session, project_id=service.project_id, environment_id=env.id, path="/idle"
            )
            folder_id, env_id = folder.id, env.id
        params = LdapPasswordParameters(dn="uid=x,ou=people,dc=example,dc=test").model_dump(
            by_alias=True
        )
        for start in range(0, total, 5000):
            rows = []
            for index in range(start, min(start + 5000, total)):
                due = now + timedelta(days=1 + index % 30) if index % 2 else None
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "project_id": service.project_id,
                        "environment_id": env_id,
                        "folder_id": folder_id,
                        "connection_id": connection_id,
                        "name": f"idle-{index}",
                        "rotation_interval": 30,
                        "is_auto_rotation_enabled": due is not None,
                        "parameters": params,
                        "target_dn": f"uid=idle-{index},ou=people,dc=example,dc=test",
                        "secrets_mapping": {"dn": f"DN_{index}", "password": f"PW_{index}"},
                        "next_rotation_at": due,
                        "due_at": due,
                    }
                )
            with db.write() as session:
                session.execute(sa.insert(SecretRotation), rows)
        with db.write() as session:
            if db.is_sqlite:
                session.execute(sa.text("ANALYZE"))
        if not db.is_sqlite:
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                    sa.text("VACUUM ANALYZE secret_rotations")
                )
    finally:
        db.dispose()


def time_claims(service: Service, calls: int) -> tuple[list[float], str]:
    """The worker's claim, timed in this process; latencies (ms) and the query plan."""
    from ldapkeeper.clock import SystemClock
    from ldapkeeper.db.session import Database
    from ldapkeeper.rotations.engine import RotationEngine
    from ldapkeeper.rotations.scheduler import RotationWorker
    from ldapkeeper.runtime import open_directory, open_keyring
    from ldapkeeper.settings import Settings

    settings = Settings(
        data_dir=service.data_dir, database_url=service.database_url, root_key=service.root_key
    )
    db = Database(service.database_url)
    engine = RotationEngine(
        db=db,
        keyring=open_keyring(settings),
        directory=open_directory(settings),
        clock=SystemClock(),
    )
    worker = RotationWorker(engine, concurrency=8)
    try:
        latencies = []
        for _ in range(calls):
            started = time.perf_counter()
            claimed = worker.claim_due(8)
            latencies.append((time.perf_counter() - started) * 1000)
            if claimed:
                raise RuntimeError("a rotation was due: the idle figure would be wrong")
        now = datetime.now(UTC)
        explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
        with db.read() as session:
            plan = session.execute(
                sa.text(explain + _DUE_QUERY),
                {"now": now.replace(tzinfo=None) if db.is_sqlite else now},
            ).all()
        text = " | ".join(" ".join(str(col) for col in row) for row in plan)
        return latencies, text
    finally:
        db.dispose()


def idle_cpu(service: Service, backend: str, seconds: float) -> tuple[float, float]:
    """Percent of one core used by an idle worker over ``seconds``, and its RSS (MiB)."""
    if backend == "sqlite":
        pid = service.child.pid  # serve: server + worker in one process
        child = None
    else:
        child = c.Child(
            ["worker"],
            {**service.env, "LDAPKEEPER_DATA_DIR": str(service.data_dir / "idle-worker")},
            service.data_dir / "idle-worker.log",
        )
        pid = child.pid
    try:
        time.sleep(3)  # started, migrated, polling
        before = c.cpu_seconds(pid)
        time.sleep(seconds)
        used = c.cpu_seconds(pid) - before
        return used / seconds * 100, c.rss_mib(pid)
    finally:
        if child is not None:
            child.stop()


def measure(backend: str, dirx: c.Directory, total: int, calls: int, seconds: float) -> None:
    with c.database(backend, dirx.workdir) as url:
        service = Service(backend, url, dirx.workdir)
        try:
            connection_id = service.create_connection(dirx)
            started = time.perf_counter()
            store_rotations(service, connection_id, total)
            c.figure(f"{backend}.stored_rotations", total)
            c.figure(f"{backend}.store_seconds", time.perf_counter() - started, "s")
            latencies, plan = time_claims(service, calls)
            c.figure(f"{backend}.claim.p50", c.median(latencies), "ms")
            c.figure(f"{backend}.claim.p99", c.percentile(latencies, 99), "ms")
            c.figure(f"{backend}.claim.plan", plan)
            cpu, rss = idle_cpu(service, backend, seconds)
            c.figure(f"{backend}.idle_cpu", cpu, "% of one core")
            c.figure(f"{backend}.idle_rss", rss, "MiB")
        finally:
            service.stop()


def main(argv: list[str] | None = None) -> None:
    p = c.parser(__doc__ or "")
    p.add_argument("--rotations", type=int, default=None, help="stored (default 100000)")
    args = p.parse_args(argv)
    total = args.rotations or (2000 if args.quick else 100_000)
    calls = 50 if args.quick else 500
    seconds = 3.0 if args.quick else 30.0
    c.machine_summary()
    with c.directory() as dirx:
        for backend in c.backends(args):
            measure(backend, dirx, total, calls, seconds)


if __name__ == "__main__":
    main()
