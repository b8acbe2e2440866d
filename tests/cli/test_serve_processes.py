"""``ldapkeeper serve`` with ``LDAPKEEPER_SERVE_PROCESSES=2`` on PostgreSQL: a real child
process tree, on one loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.procs import process_tree
from tests.support.server_process import ServerProcess

SPAWNED = "multiprocessing.spawn"


def _serving(pid: int) -> list[int]:
    """The processes under ``pid`` that uvicorn spawned to serve."""
    serving = []
    for child in process_tree(pid)[1:]:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if SPAWNED.encode() in command and b"resource_tracker" not in command:
            serving.append(child)
    return serving


@pytest.fixture
def two_processes(tmp_path: Path, postgres_url: str) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path / "data",
        extra_env={"LDAPKEEPER_DATABASE_URL": postgres_url, "LDAPKEEPER_SERVE_PROCESSES": "2"},
    )
    server.start()
    yield server
    server.stop()


def test_two_processes_serve_one_port(two_processes: ServerProcess) -> None:
    assert two_processes.pid is not None
    assert len(_serving(two_processes.pid)) == 2


def test_the_api_answers_through_two_processes(two_processes: ServerProcess) -> None:
    with two_processes.client() as client:
        answers = {client.get("/api/v1/projects").status_code for _ in range(20)}
    assert answers == {200}


def test_stopping_the_server_stops_every_process(two_processes: ServerProcess) -> None:
    assert two_processes.pid is not None
    serving = _serving(two_processes.pid)
    two_processes.stop()
    assert not [pid for pid in serving if Path(f"/proc/{pid}").exists()]
