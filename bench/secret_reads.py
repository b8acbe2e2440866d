"""Figure 3: secret reads against a bare endpoint of the same framework and server.

``GET /api/v3/secrets/raw/{name}`` (authenticated with a bearer token, decrypted, audited)
on ``ldapkeeper serve``, against a bare FastAPI app answering the same path with a fixed
body of the same shape, run by uvicorn with the same settings as ``serve`` (a sync
handler, ``log_config=None``, access log on). 8 client threads with keep-alive
connections; the bare server is measured before and after the service and the mean used.
Target: throughput ratio >= 0.5; p50 and p99 latency of both.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from typing import Any

from bench import _common as c
from bench.rotation_throughput import Service

CLIENTS = 8
SECRET = "BENCH_SECRET"


def bare_app() -> Any:
    """The bare endpoint: same framework, same path, a fixed answer of the same shape."""
    from fastapi import FastAPI

    app = FastAPI()
    body = {
        "secret": {
            "id": "00000000-0000-4000-8000-000000000000",
            "_id": "00000000-0000-4000-8000-000000000000",
            "workspace": "00000000-0000-4000-8000-000000000001",
            "environment": "dev",
            "version": 1,
            "type": "shared",
            "secretKey": SECRET,
            "secretValue": "x" * 48,
            "secretComment": "",
            "secretPath": "/",
            "tags": [],
            "secretValueHidden": False,
            "skipMultilineEncoding": False,
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
        }
    }

    @app.get("/api/v3/secrets/raw/{secret_name}")
    def read(secret_name: str) -> dict[str, Any]:
        return body

    @app.get("/api/status")
    def status() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(port: int) -> None:
    import uvicorn

    # The same uvicorn settings as ``ldapkeeper serve``.
    uvicorn.run(bare_app(), host="127.0.0.1", port=port, log_config=None, access_log=True)


def load(port: int, path: str, headers: dict[str, str], total: int) -> tuple[float, list[float]]:
    """``total`` GETs from 8 keep-alive clients; (requests/s, latencies in ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [total]

    def client(_index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        try:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        break
                    remaining[0] -= 1
                started = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                data = response.read()
                mine.append((time.perf_counter() - started) * 1000)
                if response.status != 200:
                    raise RuntimeError(f"{response.status}: {data[:200]!r}")
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    elapsed = c.run_threads(CLIENTS, client)
    return total / elapsed, latencies


def measure(backend: str, dirx: c.Directory, total: int) -> None:
    bare_port = c.free_port()
    bare = c.Child.python(
        ["-m", "bench.secret_reads", "--serve-bare", str(bare_port)],
        dirx.workdir / f"bare-{backend}.log",
    )
    with c.database(backend, dirx.workdir) as url:
        service = Service(backend, url, dirx.workdir, LDAPKEEPER_RUN_WORKER="false")
        try:
            c.wait_http(f"http://127.0.0.1:{bare_port}", bare)
            with service.client() as client:
                response = client.post(
                    f"/api/v3/secrets/raw/{SECRET}",
                    json={
                        "workspaceId": service.project_id,
                        "environment": "dev",
                        "secretPath": "/",
                        "type": "shared",
                        "secretValue": "x" * 48,
                    },
                )
                response.raise_for_status()
            query = f"workspaceId={service.project_id}&environment=dev&secretPath=%2F"
            path = f"/api/v3/secrets/raw/{SECRET}?{query}"
            auth = {"Authorization": f"Bearer {service.token}"}
            load(bare_port, path, {}, total // 10)  # warm-up
            load(service.port, path, auth, total // 10)
            bare_before, bare_ms = load(bare_port, path, {}, total)
            rate, service_ms = load(service.port, path, auth, total)
            bare_after, bare_ms_after = load(bare_port, path, {}, total)
            bare_rate = (bare_before + bare_after) / 2
            bare_ms += bare_ms_after
            c.figure(f"{backend}.bare.rate", bare_rate, "requests/s")
            c.figure(f"{backend}.bare.p50", c.median(bare_ms), "ms")
            c.figure(f"{backend}.bare.p99", c.percentile(bare_ms, 99), "ms")
            c.figure(f"{backend}.service.rate", rate, "requests/s")
            c.figure(f"{backend}.service.p50", c.median(service_ms), "ms")
            c.figure(f"{backend}.service.p99", c.percentile(service_ms, 99), "ms")
            c.figure(f"{backend}.ratio", rate / bare_rate, "(target >= 0.5)")
            c.figure(f"{backend}.server_rss", c.rss_mib(service.child.pid), "MiB")
            body = json.loads(
                service.client().get(path.split("?")[0], params=dict(_params(query))).text
            )
            assert body["secret"]["secretValue"] == "x" * 48
        finally:
            service.stop()
            bare.stop()


def _params(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-bare"]:
        serve_bare(int(argv[1]))
        return
    p = c.parser(__doc__ or "")
    p.add_argument("--requests", type=int, default=None, help="per measurement (default 5000)")
    args = p.parse_args(argv)
    total = args.requests or (200 if args.quick else 5000)
    c.machine_summary()
    with c.directory() as dirx:
        for backend in c.backends(args):
            measure(backend, dirx, total)


if __name__ == "__main__":
    main()
