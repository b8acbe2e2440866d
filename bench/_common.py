"""What every benchmark shares: a private slapd, accounts, databases, servers, figures.

Run each script from the repository root with ``PYTHONPATH=.`` so the test fixtures
(``tests.support.slapd``) are importable: the benchmarks start the same real slapd the
tests use, never a mock.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import platform
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import ldap  # type: ignore[import-untyped, unused-ignore]
from tests.support import ldapclient, procs
from tests.support.certs import make_pki
from tests.support.slapd import SlapdServer, find_binary, ssha

ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "bench-admin-password-1"
CLIENT_ID = "bench-admin-client"
CLIENT_SECRET = "bench-admin-client-secret-0123456789abcdef"
DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- arguments


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark has."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a small smoke run (seconds)")
    p.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both)",
    )
    return p


def backends(args: argparse.Namespace) -> list[str]:
    wanted = [b.strip() for b in str(args.backends).split(",") if b.strip()]
    if "postgresql" in wanted and not postgres_available():
        print("# PostgreSQL does not answer on 127.0.0.1:5432: skipping it", flush=True)
        wanted.remove("postgresql")
    return wanted


# ------------------------------------------------------------------------------ figures


def figure(name: str, value: float | str, unit: str = "") -> None:
    """Print one figure as ``name = value unit`` (one line, easy to grep)."""
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"{name} = {text}{(' ' + unit) if unit else ''}", flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine_summary() -> None:
    """nproc, memory and CPU model, printed as comments at the top of every run."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    print(
        f"# machine: nproc={os.cpu_count()} mem={mem_kb / 1048576:.1f}GiB cpu={cpu} "
        f"python={platform.python_version()}",
        flush=True,
    )


def rss_mib(pid: int | None = None) -> float:
    """Resident set size of a process (this one by default), in MiB."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_tree_mib(pid: int) -> float:
    """Resident set size of ``pid`` and its descendants, in MiB."""
    return sum(rss_mib(member) for member in procs.process_tree(pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time consumed so far by process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -------------------------------------------------------------------------------- slapd


@dataclass
class Directory:
    """A private slapd with its CA, and the accounts a benchmark rotates."""

    server: SlapdServer
    workdir: Path
    accounts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ldaps_url(self) -> str:
        return self.server.ldaps_url

    @property
    def ca_path(self) -> Path:
        return self.server.ca_path

    def add_accounts(self, count: int, prefix: str = "bench") -> list[tuple[str, str]]:
        """Add ``count`` users (one root connection, fast); returns (dn, password) pairs."""
        added: list[tuple[str, str]] = []
        with self.server.root_connection() as conn:
            for _ in range(count):
                uid = f"{prefix}-{secrets.token_hex(5)}"
                password = ldapclient.make_password()
                dn = self.server.user_dn(uid)
                conn.add_s(
                    dn,
                    [
                        ("objectClass", [b"inetOrgPerson"]),
                        ("uid", [uid.encode()]),
                        ("cn", [uid.encode()]),
                        ("sn", [uid.encode()]),
                        ("userPassword", [ssha(password).encode()]),
                    ],
                )
                added.append((dn, password))
        self.accounts.extend(added)
        return added


@contextlib.contextmanager
def directory() -> Iterator[Directory]:
    """Start a private slapd (the tests' fixture code) for the benchmark's lifetime."""
    slapd_bin, slapadd_bin = find_binary("slapd"), find_binary("slapadd")
    if slapd_bin is None or slapadd_bin is None:
        sys.exit("slapd is not installed (apt-get install slapd ldap-utils)")
    workdir = Path(tempfile.mkdtemp(prefix="ldapkeeper-bench-"))
    pki = make_pki(workdir / "pki")
    (workdir / "slapd").mkdir()
    server = SlapdServer(
        workdir / "slapd", slapd_bin=slapd_bin, slapadd_bin=slapadd_bin, pki=pki, cert=pki.server
    )
    server.start(_first=True)
    try:
        yield Directory(server, workdir)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def slapd_pid(server: SlapdServer) -> int | None:
    proc = getattr(server, "_proc", None)
    return None if proc is None else int(proc.pid)


# ------------------------------------------------------------------ the bare LDAP loop


def bare_connection(url: str, ca_path: Path) -> Any:
    """A python-ldap connection with the same TLS settings ldapkeeper uses (CA, demand)."""
    return ldapclient.open_connection(url, ca_path=ca_path)


def bare_rotations(
    dirx: Directory, accounts: Sequence[tuple[str, str]], *, threads: int = 8
) -> float:
    """The baseline: ``threads`` threads, each with one admin connection bound over
    ldaps:// and reused, doing ``passwd_s`` on the target then a bind as the target on a
    fresh ldaps:// connection. Returns the seconds the whole list took. The new passwords
    are recorded in ``dirx.accounts``.
    """
    work = list(enumerate(accounts))
    lock = threading.Lock()
    results: list[tuple[str, str]] = list(accounts)
    errors: list[BaseException] = []
    admin_dn, admin_password = dirx.server.admin_dn, dirx.server.admin_password

    def run() -> None:
        admin = bare_connection(dirx.ldaps_url, dirx.ca_path)
        try:
            admin.simple_bind_s(admin_dn, admin_password)
            while True:
                with lock:
                    if not work:
                        return
                    index, (dn, _old) = work.pop()
                new = ldapclient.make_password()
                admin.passwd_s(dn, None, new)
                check = bare_connection(dirx.ldaps_url, dirx.ca_path)
                try:
                    check.simple_bind_s(dn, new)
                finally:
                    check.unbind_s()
                results[index] = (dn, new)
        except BaseException as exc:  # noqa: BLE001 — reported after the run
            errors.append(exc)
        finally:
            admin.unbind_s()

    started = time.perf_counter()
    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"bare loop failed: {errors[0]!r}")
    dirx.accounts = [a for a in dirx.accounts if a not in accounts] + results
    return elapsed


def bare_bind_ms(dirx: Directory, dn: str, password: str) -> float:
    """One bind on a new ldaps:// connection (same TLS settings), in milliseconds."""
    started = time.perf_counter()
    conn = bare_connection(dirx.ldaps_url, dirx.ca_path)
    try:
        conn.simple_bind_s(dn, password)
    finally:
        conn.unbind_s()
    return (time.perf_counter() - started) * 1000


def can_bind(dirx: Directory, dn: str, password: str) -> bool:
    try:
        conn = bare_connection(dirx.ldaps_url, dirx.ca_path)
        try:
            conn.simple_bind_s(dn, password)
        finally:
            conn.unbind_s()
    except ldap.INVALID_CREDENTIALS:
        return False
    return True


# ----------------------------------------------------------------------------- databases


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(DEFAULT_PG_ADMIN, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 — any failure means "not available"
        return False


@contextlib.contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database URL of ``backend`` (dropped afterwards)."""
    if backend == "sqlite":
        path = workdir / f"bench-{secrets.token_hex(4)}.db"
        yield f"sqlite:///{path}"
        return
    import psycopg
    from psycopg import sql

    name = f"ldapkeeper_bench_{secrets.token_hex(5)}"
    with psycopg.connect(DEFAULT_PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(DEFAULT_PG_ADMIN, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ------------------------------------------------------------------- ldapkeeper processes


def server_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """Environment for an ``ldapkeeper`` child process (bootstrap logins known)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAPKEEPER_")}
    env.update(
        {
            "LDAPKEEPER_DATA_DIR": str(data_dir),
            "LDAPKEEPER_DATABASE_URL": database_url,
            "LDAPKEEPER_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "LDAPKEEPER_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LDAPKEEPER_BOOTSTRAP_CLIENT_ID": CLIENT_ID,
            "LDAPKEEPER_BOOTSTRAP_CLIENT_SECRET": CLIENT_SECRET,
            "LDAPKEEPER_ALLOWED_NETWORKS": "127.0.0.0/8",
            "LDAPKEEPER_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def root_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def ldapkeeper_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "ldapkeeper"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "ldapkeeper.cli.main", *args]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Child:
    """An ``ldapkeeper serve`` or ``worker`` child process (stopped on exit)."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen(
            ldapkeeper_command(*args),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @classmethod
    def python(cls, args: Sequence[str], log_path: Path) -> Child:
        """This interpreter running ``args`` (e.g. ``-m bench.x``) from the repository."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        child = cls.__new__(cls)
        child.log_path = log_path
        child._log = open(log_path, "ab")  # noqa: SIM115 — closed in stop()
        child.proc = subprocess.Popen(
            [sys.executable, *args],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=child._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return child

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            # The whole session: a serve of several processes stops with its supervisor.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)


def wait_http(url: str, child: Child | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.proc.poll() is not None:
            raise RuntimeError(f"ldapkeeper exited:\n{child.tail()}")
        try:
            if httpx.get(f"{url}/api/status", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


def admin_token(url: str) -> str:
    response = httpx.post(
        f"{url}/api/v1/auth/universal-auth/login",
        json={"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["accessToken"])


def run_threads(count: int, target: Callable[[int], None]) -> float:
    """Run ``target(i)`` in ``count`` threads; returns the wall time; re-raises a failure."""
    errors: list[BaseException] = []

    def wrapped(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # noqa: BLE001 — re-raised below
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed
