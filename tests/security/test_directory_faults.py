"""Directories that fail: stopped in the middle of a batch, silent, or with bad TLS.

The worker is driven by the test (``RotationWorker.run_once``) on a fake clock, against
real slapd servers; the silent directory is a listener that accepts and never answers.
TLS negatives that ``tests/connections/test_binding.py`` already checks through the API
(no CA, an unrelated CA, a certificate for another host name, a silent ldaps server) are
not repeated here: this file adds the expired certificate and a refused STARTTLS.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ldapkeeper.db.models import AppConnection
from tests.connections.bodies import create, error_code, slapd_body
from tests.support.app import Api
from tests.support.certs import Pki
from tests.support.ldap_extra import _Listener
from tests.support.rotations import (
    START,
    Scheduling,
    build_scheduling,
    create_rotation,
    rotation_body,
    slapd_admin_connection,
    stored_secret,
)
from tests.support.slapd import HOST, SlapdServer, find_binary

pytestmark = pytest.mark.slapd

BATCH = 8
#: Due one day after START, at 00:00 UTC (the default rotateAtUtc).
FIRST_DUE = (START + timedelta(days=1)).replace(hour=0, minute=0)


@pytest.fixture
def scheduling(api: Api) -> Iterator[Scheduling]:
    built = build_scheduling(api)
    yield built
    built.gate.release_all()
    built.worker.stop()


def daily(scheduling: Scheduling, connection_id: str, dn: str, name: str) -> dict[str, Any]:
    body = rotation_body(
        scheduling.api,
        connection_id,
        dn,
        name=name,
        secret_path=f"/{name}",
        rotationInterval=1,
    )
    return create_rotation(scheduling.api, body)


def run_until_settled(scheduling: Scheduling, ids: list[str], rounds: int = 12) -> None:
    """Run whatever is due, moving the clock to the next due time, until every rotation
    is ``success`` with no retry pending (bounded)."""
    for _ in range(rounds):
        rows = [scheduling.row(rotation_id) for rotation_id in ids]
        pending = [r for r in rows if r.rotation_status != "success" or r.failure_count]
        if not pending:
            return
        due = min(r.due_at for r in pending if r.due_at is not None)
        scheduling.clock.set(max(due, scheduling.clock.now()))
        scheduling.run_due()
    statuses = [(r.name, r.rotation_status, r.last_rotation_message) for r in rows]
    raise AssertionError(f"rotations did not settle: {statuses}")


def test_slapd_stopped_in_the_middle_of_a_batch_loses_no_password(
    scheduling: Scheduling, slapd_private: SlapdServer
) -> None:
    api = scheduling.api
    connection = slapd_admin_connection(api, slapd_private)
    users = [slapd_private.add_user(f"batch{i}", f"Initial-password-{i}") for i in range(BATCH)]
    ids = [daily(scheduling, connection["id"], dn, f"batch{i}")["id"] for i, dn in enumerate(users)]
    before = [stored_secret(api, "LDAP_PASSWORD", path=f"/batch{i}") for i in range(BATCH)]

    scheduling.clock.set(FIRST_DUE)
    scheduling.gate.arm("changed-committed")
    assert scheduling.worker.run_once() > 0
    scheduling.gate.wait_reached("changed-committed")
    slapd_private.stop()  # some changed, not verified; the rest mid-flight or not started
    scheduling.gate.release("changed-committed")
    assert scheduling.worker.wait_idle(30)
    scheduling.run_due()  # the rest of the batch meets a stopped directory
    hurt = [scheduling.row(i) for i in ids]
    assert [r for r in hurt if r.failure_count or r.rotation_status != "success"], "no fault"
    slapd_private.start()

    run_until_settled(scheduling, ids)
    lost = []
    for i, dn in enumerate(users):
        stored = stored_secret(api, "LDAP_PASSWORD", path=f"/batch{i}")
        if stored == before[i] or not slapd_private.can_bind(dn, stored):
            lost.append((i, stored == before[i]))
        assert not slapd_private.can_bind(dn, before[i])
    assert lost == []


class Silent(_Listener):
    """Accepts connections on its address and never sends a byte."""

    def handle(self, conn: socket.socket) -> None:
        conn.recv(65536)
        time.sleep(60)


@pytest.fixture
def silent() -> Iterator[Silent]:
    # 127.0.0.2: another directory host than slapd's 127.0.0.1 (the worker limits per host).
    listener = Silent("127.0.0.2")
    yield listener
    listener.close()


def test_silent_directory_does_not_delay_rotations_on_another_directory(
    scheduling: Scheduling, slapd: SlapdServer, silent: Silent
) -> None:
    api = scheduling.api
    timeout = api.runtime.settings.ldap_timeout_seconds
    live_user = slapd.add_user(f"live-{time.monotonic_ns()}", "Initial-password-1")
    gone_user = slapd.add_user(f"gone-{time.monotonic_ns()}", "Initial-password-2")
    live_connection = slapd_admin_connection(api, slapd, name="live")
    gone_connection = slapd_admin_connection(api, slapd, name="gone")
    gone = daily(scheduling, gone_connection["id"], gone_user, "gone")
    live = daily(scheduling, live_connection["id"], live_user, "live")
    # The directory behind "gone" now accepts connections and never answers.
    with api.runtime.db.write() as session:
        row = session.get(AppConnection, gone_connection["id"])
        assert row is not None
        row.url = f"ldaps://{silent.host}:{silent.port}"
    before = stored_secret(api, "LDAP_PASSWORD", path="/live")

    scheduling.clock.set(FIRST_DUE)
    began = time.monotonic()
    assert scheduling.worker.run_once() == 2
    while scheduling.row(live["id"]).last_rotated_at == scheduling.row(gone["id"]).last_rotated_at:
        assert time.monotonic() - began < timeout, "the live rotation waited for the silent one"
        time.sleep(0.02)
    live_done = time.monotonic() - began
    assert scheduling.worker.wait_idle(4 * timeout + 5)
    all_done = time.monotonic() - began

    assert live_done < timeout / 2
    assert all_done < 3 * timeout + 2, "the silent directory was not cut off by the timeout"
    stored = stored_secret(api, "LDAP_PASSWORD", path="/live")
    assert stored != before
    assert slapd.can_bind(live_user, stored)
    failed = scheduling.row(gone["id"])
    assert failed.failure_count == 1
    assert "within" in (failed.last_rotation_message or "")


# -- TLS negatives not covered elsewhere -----------------------------------------------------


def test_expired_certificate_is_a_clear_tls_error(
    api: Api, slapd_expired_cert: SlapdServer
) -> None:
    response = create(api.client, api.admin, slapd_body(slapd_expired_cert, api.project_id))
    assert (response.status_code, error_code(response)) == (400, "tls_error")
    assert "expired" in response.json()["message"].lower()


class PlainSlapd(SlapdServer):
    """A slapd without any TLS configuration: it refuses STARTTLS."""

    def _config(self) -> str:
        return "\n".join(line for line in super()._config().splitlines() if "TLS" not in line)

    def _endpoints(self) -> list[tuple[str, int]]:
        return [(HOST, self.ldap_port)]

    def _listen_urls(self) -> str:
        return f"ldap://{HOST}:{self.ldap_port}/"


@pytest.fixture
def plain_slapd(tmp_path: Path, pki: Pki) -> Iterator[PlainSlapd]:
    slapd_bin, slapadd_bin = find_binary("slapd"), find_binary("slapadd")
    if slapd_bin is None or slapadd_bin is None:
        pytest.skip("slapd is not installed")
    server = PlainSlapd(
        tmp_path / "plain", slapd_bin=slapd_bin, slapadd_bin=slapadd_bin, pki=pki, cert=pki.server
    )
    server.start(_first=True)
    yield server
    server.stop()


def test_starttls_refused_by_the_server_is_a_clear_tls_error(
    api: Api, plain_slapd: PlainSlapd
) -> None:
    body = slapd_body(plain_slapd, api.project_id, url=plain_slapd.ldap_url, startTls=True)
    response = create(api.client, api.admin, body)
    assert (response.status_code, error_code(response)) == (400, "tls_error"), response.text
    assert "starttls" in response.json()["message"].lower().replace(" ", "")
