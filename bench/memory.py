"""Figure 5: resident memory of ldapkeeper, idle and under the loads of figures 1 and 3.

One ``ldapkeeper serve`` per backend; its RSS is sampled every 50 ms while it is idle
after start, while rotations are created, rotated now (8 clients) and drained by the
worker (all due at once), and while secrets are read (8 clients). On PostgreSQL a separate
``ldapkeeper worker`` is measured idle and while it drains the same rotations (beside the
server's own worker). Figures are the peak RSS in each phase (MiB).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bench import _common as c
from bench import rotation_throughput as rt
from bench import secret_reads as sr


class Sampler:
    """Peak RSS of a process while a block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, c.rss_mib(self.pid))
            self._stop.wait(0.05)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, c.rss_mib(self.pid))


def phase(name: str, pid: int, action: Callable[[], object]) -> None:
    with Sampler(pid) as sampler:
        action()
    c.figure(name, sampler.peak, "MiB")


def measure(backend: str, dirx: c.Directory, count: int, reads: int) -> None:
    with c.database(backend, dirx.workdir) as url:
        service = rt.Service(backend, url, dirx.workdir)
        pid = service.child.pid
        try:
            phase(f"{backend}.serve.idle", pid, lambda: time.sleep(2))
            connection_id = service.create_connection(dirx)
            accounts = dirx.add_accounts(count, prefix=f"mem-{backend}")
            ids: list[str] = []
            phase(
                f"{backend}.serve.create_rotations",
                pid,
                lambda: ids.extend(rt.create_rotations(service, connection_id, accounts)[0]),
            )
            phase(f"{backend}.serve.rotate_now", pid, lambda: rt.rotate_now(service, ids))
            phase(f"{backend}.serve.scheduled", pid, lambda: rt.scheduled(service, count))
            query = f"workspaceId={service.project_id}&environment=dev&secretPath=%2Fbench"
            path = f"/api/v3/secrets/raw/PW_0?{query}"
            auth = {"Authorization": f"Bearer {service.token}"}
            phase(
                f"{backend}.serve.secret_reads",
                pid,
                lambda: sr.load(service.port, path, auth, reads),
            )
            if backend == "postgresql":
                worker = c.Child(
                    ["worker"],
                    {**service.env, "LDAPKEEPER_DATA_DIR": str(service.data_dir / "mem-worker")},
                    service.data_dir / "mem-worker.log",
                )
                try:
                    phase("postgresql.worker.idle", worker.pid, lambda: time.sleep(3))
                    phase(
                        "postgresql.worker.drain", worker.pid, lambda: rt.scheduled(service, count)
                    )
                finally:
                    worker.stop()
        finally:
            service.stop()


def main(argv: list[str] | None = None) -> None:
    p = c.parser(__doc__ or "")
    p.add_argument("--count", type=int, default=None, help="rotations (default 1000)")
    args = p.parse_args(argv)
    count = args.count or (20 if args.quick else 1000)
    reads = 200 if args.quick else 5000
    c.machine_summary()
    with c.directory() as dirx:
        for backend in c.backends(args):
            measure(backend, dirx, count, reads)


if __name__ == "__main__":
    main()
