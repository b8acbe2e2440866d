"""Smoke test of the benchmarks: each script runs with ``--quick`` and prints its figures.

No timing is asserted (the machine is shared): only that every script starts its own
slapd and servers, finishes, and prints the figures its documentation names. SQLite only,
to stay short; the full runs and their results are in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.procs import skip_or_fail
from tests.support.slapd import find_binary

REPO = Path(__file__).resolve().parents[2]
FIGURES = {
    "rotation_throughput": [
        "sqlite.rotate_now.ratio",
        "sqlite.scheduled.ratio",
        "sqlite.rotate_now.stored_passwords_bind",
    ],
    "connection_latency": ["sqlite.create.median_overhead", "sqlite.bare_bind.p50"],
    "secret_reads": ["sqlite.ratio", "sqlite.service.p99", "sqlite.bare.p50"],
    "idle_cost": ["sqlite.claim.p50", "sqlite.idle_cpu"],
    "memory": ["sqlite.serve.idle", "sqlite.serve.rotate_now"],
}


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_benchmark_runs_quick_and_prints_its_figures(script: str) -> None:
    if find_binary("slapd") is None:
        skip_or_fail("OpenLDAP slapd is not installed (apt-get install slapd ldap-utils)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAPKEEPER_")}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{script}", "--quick", "--backends", "sqlite"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    printed = {line.split(" = ")[0] for line in result.stdout.splitlines() if " = " in line}
    assert set(FIGURES[script]) <= printed, result.stdout
