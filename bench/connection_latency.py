"""Figure 2: latency of creating an LDAP App Connection against a bare bind.

One client, one request at a time: ``POST /api/v1/app-connections/ldap`` (validated by a
live bind over ldaps://, stored sealed, audited) against a bare python-ldap bind on a new
ldaps:// connection with the same TLS settings (the CA file, certificate required). The
two alternate, so both see the same machine. Target: median overhead <= 5 ms.

The client is one keep-alive connection of the standard library's ``http.client``, as in
the other figures: the lightest client there is, so that the overhead measured is the
service's (httpx spends about 0.5 ms more per request in the client).
"""

from __future__ import annotations

import http.client
import json
import time

from bench import _common as c
from bench.rotation_throughput import Service, connection_body


def measure(backend: str, dirx: c.Directory, samples: int, warmup: int) -> None:
    with c.database(backend, dirx.workdir) as url:
        service = Service(backend, url, dirx.workdir, LDAPKEEPER_RUN_WORKER="false")
        try:
            admin_dn, admin_password = dirx.server.admin_dn, dirx.server.admin_password
            create_ms: list[float] = []
            bare_ms: list[float] = []
            headers = {
                "Authorization": f"Bearer {service.token}",
                "Content-Type": "application/json",
            }
            client = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
            try:
                for index in range(warmup + samples):
                    bare = c.bare_bind_ms(dirx, admin_dn, admin_password)
                    body = connection_body(dirx, service.project_id, f"latency-{index}")
                    data = json.dumps(body).encode()
                    started = time.perf_counter()
                    client.request("POST", "/api/v1/app-connections/ldap", data, headers)
                    response = client.getresponse()
                    answer = response.read()
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status != 200:
                        raise RuntimeError(f"create failed: {response.status} {answer[:300]!r}")
                    if index >= warmup:
                        create_ms.append(elapsed)
                        bare_ms.append(bare)
            finally:
                client.close()
            c.figure(f"{backend}.bare_bind.p50", c.median(bare_ms), "ms")
            c.figure(f"{backend}.bare_bind.p90", c.percentile(bare_ms, 90), "ms")
            c.figure(f"{backend}.create.p50", c.median(create_ms), "ms")
            c.figure(f"{backend}.create.p90", c.percentile(create_ms, 90), "ms")
            c.figure(
                f"{backend}.create.median_overhead",
                c.median(create_ms) - c.median(bare_ms),
                "ms (target <= 5)",
            )
        finally:
            service.stop()


def main(argv: list[str] | None = None) -> None:
    p = c.parser(__doc__ or "")
    p.add_argument("--samples", type=int, default=None, help="creates measured (default 300)")
    args = p.parse_args(argv)
    samples = args.samples or (20 if args.quick else 300)
    c.machine_summary()
    with c.directory() as dirx:
        for backend in c.backends(args):
            measure(backend, dirx, samples, warmup=5 if args.quick else 20)


if __name__ == "__main__":
    main()
