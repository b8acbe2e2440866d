"""Small helpers shared by the server fixtures: ports, readiness polling, child processes."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import NoReturn

import pytest

_PR_SET_PDEATHSIG = 1


def in_ci() -> bool:
    """True when running under CI (`CI=true`)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip outside CI; fail under `CI=true` (CI must prove what it claims)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: not skipping)", pytrace=False)
    pytest.skip(reason)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    """True when `host:port` can be bound (nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a TCP connection to `host:port` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def die_with_parent() -> None:
    """`preexec_fn`: the child gets SIGTERM if the test process dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_until_listening(
    proc: subprocess.Popen[bytes],
    endpoints: list[tuple[str, int]],
    *,
    timeout: float,
    what: str,
    log_path: os.PathLike[str] | None = None,
) -> None:
    """Poll until every endpoint accepts TCP connections; raise if `proc` exits or time is up."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    pending = list(endpoints)
    while pending:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}{_log_tail(log_path)}")
        pending = [ep for ep in pending if not port_open(*ep)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not listening on {pending} after {timeout}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL if needed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _log_tail(log_path: os.PathLike[str] | None, lines: int = 30) -> str:
    if log_path is None:
        return ""
    try:
        with open(log_path, errors="replace") as fh:
            tail = fh.readlines()[-lines:]
    except OSError:
        return ""
    return "\n--- log tail ---\n" + "".join(tail)


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it (read from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        queue.extend(children.get(current, []))
    return tree
