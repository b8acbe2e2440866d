"""API fuzzing and the end-to-end network guard, inside a loopback-only network namespace.

The checks themselves are in ``netns_checks.py``; this test runs them in a child pytest
under ``unshare -n`` with only ``lo`` up, so no fuzzed URL and no guard bug can ever reach
an address beyond this machine. Without ``unshare`` (or the right to use it) the test
skips, and fails under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.procs import skip_or_fail

#: Set for the child run inside the namespace (netns_checks.py runs only then).
NETNS_FLAG = "LDAPKEEPER_TEST_NETNS"
#: Where the child writes what the fuzz did.
REPORT_ENV = "LDAPKEEPER_TEST_FUZZ_REPORT"
#: Examples per operation (valid and invalid ones together); about 50 operations.
EXAMPLES = int(os.environ.get("LDAPKEEPER_TEST_FUZZ_EXAMPLES", "30"))
ROOT = Path(__file__).resolve().parents[2]
CHECKS = Path(__file__).with_name("netns_checks.py")
#: The child's own bound; the fuzz takes about a minute on two cores.
CHILD_TIMEOUT = 480


def namespace_command(*pytest_args: str) -> list[str]:
    """``pytest_args`` run by this interpreter's pytest in a new loopback-only namespace."""
    script = 'ip link set lo up && exec "$0" -m pytest "$@"'
    return ["unshare", "--net", "sh", "-c", script, sys.executable, *pytest_args]


def can_unshare() -> str | None:
    """Why a network namespace cannot be made here, or None."""
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(
        ["unshare", "--net", "ip", "link", "set", "lo", "up"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot create a network namespace: {probe.stderr.strip()}"
    return None


@pytest.mark.slapd
@pytest.mark.timeout(CHILD_TIMEOUT + 60)
def test_fuzz_and_network_guard_inside_a_loopback_only_namespace(tmp_path: Path) -> None:
    reason = can_unshare()
    if reason is not None:
        skip_or_fail(reason)
    report = tmp_path / "fuzz-report.json"
    env = {**os.environ, NETNS_FLAG: "1", REPORT_ENV: str(report)}
    began = time.monotonic()
    child = subprocess.run(
        namespace_command(str(CHECKS), "-q", "-p", "no:cacheprovider", "-rfEs"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    elapsed = time.monotonic() - began
    output = child.stdout + child.stderr
    assert child.returncode == 0, output[-6000:]
    assert " skipped" not in output.splitlines()[-1], output[-3000:]
    statuses = {int(k): v for k, v in json.loads(report.read_text())["statuses"].items()}
    print(f"fuzz: {sum(statuses.values())} requests in {elapsed:.0f}s, statuses {statuses}")
    assert not [s for s in statuses if s >= 500]
    assert statuses.get(200, 0) > 0, "no fuzzed request was ever accepted: auth is broken"
    assert sum(statuses.values()) >= EXAMPLES * 20
