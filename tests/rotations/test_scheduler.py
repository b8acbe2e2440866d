"""The schedule, leases, retries and failure handling, on a fake clock against real slapd.

The engine and the rotation service of the API harness run on a ``FakeClock``; the test
drives the ``RotationWorker`` with ``run_once()``. Directory failures are real: the test's
own slapd is stopped.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.rotations import (
    Scheduling,
    create_rotation,
    rotation_body,
    slapd_admin_connection,
    stored_secret,
)
from tests.support.slapd import LdapUser, SlapdServer

from ldapkeeper.rotations.engine import LeaseLost
from ldapkeeper.rotations.schedule import LEASE_SECONDS
from ldapkeeper.rotations.scheduler import RotationWorker

ROTATIONS = "/api/v2/secret-rotations/ldap-password"


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def weekly_rotation(
    scheduling: Scheduling, directory: SlapdServer, user_dn: str, **extra: Any
) -> dict[str, Any]:
    """A rotation every 7 days at 02:30 UTC, created at ``START`` (2030-03-11 15:00)."""
    api = scheduling.api
    connection = slapd_admin_connection(api, directory)
    body = rotation_body(
        api,
        connection["id"],
        user_dn,
        rotationInterval=7,
        rotateAtUtc={"hours": 2, "minutes": 30},
        **extra,
    )
    return create_rotation(api, body)


FIRST_DUE = datetime(2030, 3, 18, 2, 30, tzinfo=UTC)


@pytest.fixture
def private_user(slapd_private: SlapdServer) -> LdapUser:
    password = "Initial-password-0"
    return LdapUser(slapd_private.add_user("outage", password), password, "outage")


# -- schedule -------------------------------------------------------------------------------


def test_next_rotation_is_the_interval_after_the_last_rotation_at_rotate_time(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd, ldap_user.dn)
    assert iso(rotation["nextRotationAt"]) == FIRST_DUE


def test_rotation_without_auto_rotation_has_no_next_rotation(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd, ldap_user.dn, isAutoRotationEnabled=False)
    assert rotation["nextRotationAt"] is None


def test_rotation_is_not_claimed_before_it_is_due(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    weekly_rotation(scheduling, slapd, ldap_user.dn)
    scheduling.clock.set(FIRST_DUE - timedelta(seconds=1))
    assert scheduling.run_due() == 0


def test_due_rotation_is_claimed_and_rotated_by_the_worker(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    weekly_rotation(scheduling, slapd, ldap_user.dn)
    before = stored_secret(scheduling.api, "LDAP_PASSWORD")
    scheduling.clock.set(FIRST_DUE)
    assert scheduling.run_due() == 1
    after = stored_secret(scheduling.api, "LDAP_PASSWORD")
    assert after != before
    assert slapd.can_bind(ldap_user.dn, after)
    assert not slapd.can_bind(ldap_user.dn, before)


def test_scheduled_rotation_moves_the_next_rotation_one_interval_on(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd, ldap_user.dn)
    scheduling.clock.set(FIRST_DUE + timedelta(minutes=3))
    scheduling.run_due()
    public = scheduling.api.client.get(
        f"{ROTATIONS}/{rotation['id']}", headers=scheduling.api.admin
    ).json()["secretRotation"]
    assert iso(public["nextRotationAt"]) == FIRST_DUE + timedelta(days=7)
    assert public["isLastRotationManual"] is False


def test_a_disabled_rotation_is_never_claimed(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    weekly_rotation(scheduling, slapd, ldap_user.dn, isAutoRotationEnabled=False)
    scheduling.clock.advance(days=400)
    assert scheduling.run_due() == 0


# -- leases ---------------------------------------------------------------------------------


def test_rotation_leased_by_a_live_token_is_not_claimed(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd, ldap_user.dn)
    scheduling.clock.set(FIRST_DUE)
    assert scheduling.engine.claim(rotation["id"], "another-worker")
    scheduling.clock.advance(seconds=LEASE_SECONDS - 1)
    assert scheduling.run_due() == 0


def test_expired_lease_is_taken_over(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd, ldap_user.dn)
    scheduling.clock.set(FIRST_DUE)
    assert scheduling.engine.claim(rotation["id"], "a-dead-worker")
    scheduling.clock.advance(seconds=LEASE_SECONDS + 1)
    assert scheduling.run_due() == 1


def run_in_thread(scheduling: Scheduling, rotation_id: str, token: str) -> list[BaseException]:
    """engine.run under ``token`` in a thread; the list gets what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            scheduling.engine.run(rotation_id, token, manual=False)
        except LeaseLost as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    scheduling.threads.append(thread)
    return raised


def test_worker_whose_lease_was_taken_over_cannot_commit(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    """Worker A stalls after the directory changed; its lease expires; the worker takes
    over, finishes the same attempt; A wakes up and is fenced off."""
    rotation = weekly_rotation(scheduling, slapd, ldap_user.dn)
    scheduling.clock.set(FIRST_DUE)
    assert scheduling.engine.claim(rotation["id"], "stalled-worker")
    scheduling.gate.arm("changed-committed")
    raised = run_in_thread(scheduling, rotation["id"], "stalled-worker")
    scheduling.gate.wait_reached("changed-committed")
    scheduling.clock.advance(seconds=LEASE_SECONDS + 1)
    assert scheduling.run_due() == 1
    scheduling.gate.release("changed-committed")
    scheduling.join_threads()
    assert [type(e) for e in raised] == [LeaseLost]


def test_takeover_finishes_the_stalled_attempt_instead_of_starting_another(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd, ldap_user.dn)
    scheduling.clock.set(FIRST_DUE)
    assert scheduling.engine.claim(rotation["id"], "stalled-worker")
    scheduling.gate.arm("changed-committed")
    run_in_thread(scheduling, rotation["id"], "stalled-worker")
    scheduling.gate.wait_reached("changed-committed")
    scheduling.clock.advance(seconds=LEASE_SECONDS + 1)
    scheduling.run_due()
    scheduling.gate.release("changed-committed")
    scheduling.join_threads()
    history = scheduling.api.client.get(
        f"{ROTATIONS}/{rotation['id']}/history", headers=scheduling.api.admin
    ).json()["history"]
    assert [h["status"] for h in history] == ["success", "success"]
    assert slapd.can_bind(ldap_user.dn, stored_secret(scheduling.api, "LDAP_PASSWORD"))


def test_manual_rotate_while_one_runs_is_refused(
    scheduling: Scheduling, slapd: SlapdServer, ldap_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd, ldap_user.dn)
    scheduling.clock.set(FIRST_DUE)
    scheduling.gate.arm("directory-changed")
    scheduling.worker.run_once()
    scheduling.gate.wait_reached("directory-changed")
    response = scheduling.api.client.post(
        f"{ROTATIONS}/{rotation['id']}/rotate-secrets", headers=scheduling.api.admin
    )
    scheduling.gate.release("directory-changed")
    assert response.status_code == 400
    assert response.json()["message"] == "A rotation is already in progress"


def _due_weekly_rotations(scheduling: Scheduling, directory: SlapdServer, count: int) -> None:
    """``count`` weekly rotations of their own accounts, all due at ``FIRST_DUE``."""
    api = scheduling.api
    connection = slapd_admin_connection(api, directory)
    for n in range(count):
        dn = directory.add_user(f"queued-{n}-{os.urandom(3).hex()}", "Initial-password-0")
        body = rotation_body(
            api,
            connection["id"],
            dn,
            name=f"queued-{n}",
            secret_path=f"/queued-{n}",
            rotationInterval=7,
            rotateAtUtc={"hours": 2, "minutes": 30},
        )
        create_rotation(api, body)
    scheduling.clock.set(FIRST_DUE)


def _claimed_at_once(worker: RotationWorker) -> int:
    """How many due rotations one claim of an idle ``worker`` takes."""
    try:
        return worker.run_once()
    finally:
        assert worker.wait_idle(30)


@pytest.mark.parametrize(
    ("concurrency", "due", "claimed"),
    [
        pytest.param(4, 6, 5, id="one batch (a quarter of the threads) beyond its threads"),
        pytest.param(1, 3, 1, id="below four threads, no more than it runs"),
    ],
)
def test_an_idle_worker_claims_its_threads_and_one_batch(
    scheduling: Scheduling, slapd: SlapdServer, concurrency: int, due: int, claimed: int
) -> None:
    _due_weekly_rotations(scheduling, slapd, due)
    worker = RotationWorker(scheduling.engine, concurrency=concurrency, per_host_limit=4)
    try:
        assert _claimed_at_once(worker) == claimed
    finally:
        worker.stop()


def test_a_worker_claims_at_most_twice_its_per_host_limit_of_one_host(
    scheduling: Scheduling, slapd: SlapdServer
) -> None:
    _due_weekly_rotations(scheduling, slapd, 4)
    worker = RotationWorker(scheduling.engine, concurrency=8, per_host_limit=1)
    scheduling.gate.arm("pending-committed")  # what is claimed stays claimed meanwhile
    try:
        first = worker.run_once()
        again = worker.run_once()  # the host is full: its due rotations are left
    finally:
        scheduling.gate.release_all()
        assert worker.wait_idle(30)
        worker.stop()
    assert (first, again) == (2, 0)


def test_a_host_at_its_limit_has_more_rotations_in_flight_than_the_limit(
    scheduling: Scheduling, slapd: SlapdServer
) -> None:
    # The limit holds directory operations: two rotations of one host both reach their
    # first commit (before any directory operation) with a limit of one.
    _due_weekly_rotations(scheduling, slapd, 2)
    worker = RotationWorker(scheduling.engine, concurrency=4, per_host_limit=1)
    scheduling.gate.arm("pending-committed")
    try:
        assert worker.run_once() == 2
        scheduling.gate.wait_reached("pending-committed", count=2)
    finally:
        scheduling.gate.release_all()
        assert worker.wait_idle(30)
        worker.stop()


# -- failures, retries, outage --------------------------------------------------------------


def test_failed_tries_are_retried_with_exponential_backoff_and_jitter(
    scheduling: Scheduling, slapd_private: SlapdServer, private_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd_private, private_user.dn)
    slapd_private.stop()
    delays = scheduling.fail_until_exhausted(rotation["id"])[:-1]
    for number, delay in enumerate(delays, start=1):
        base = timedelta(seconds=30 * 2 ** (number - 1))
        assert base <= delay <= base * 1.5, (number, delay)


def test_five_failures_mark_the_rotation_failed_with_a_redacted_message(
    scheduling: Scheduling, slapd_private: SlapdServer, private_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd_private, private_user.dn)
    stored = stored_secret(scheduling.api, "LDAP_PASSWORD")
    slapd_private.stop()
    scheduling.fail_until_exhausted(rotation["id"])
    public = scheduling.api.client.get(
        f"{ROTATIONS}/{rotation['id']}", headers=scheduling.api.admin
    ).json()["secretRotation"]
    assert public["rotationStatus"] == "failed"
    message = public["lastRotationMessage"]
    assert "Connection refused" in message
    assert len(message) <= 1024
    assert stored not in message
    assert slapd_private.admin_password not in message


def test_rotation_is_not_failed_before_the_fifth_failure(
    scheduling: Scheduling, slapd_private: SlapdServer, private_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd_private, private_user.dn)
    slapd_private.stop()
    scheduling.clock.set(FIRST_DUE)
    for _ in range(4):
        scheduling.run_due()
        due = scheduling.row(rotation["id"]).due_at
        assert due is not None
        scheduling.clock.set(due)
    assert scheduling.row(rotation["id"]).rotation_status == "success"


def test_exhausted_retries_are_audited(
    scheduling: Scheduling, slapd_private: SlapdServer, private_user: LdapUser
) -> None:
    api = scheduling.api
    rotation = weekly_rotation(scheduling, slapd_private, private_user.dn)
    slapd_private.stop()
    scheduling.fail_until_exhausted(rotation["id"])
    events = api.client.get(
        "/api/v1/audit-logs",
        params={"projectId": api.project_id, "eventType": "secret-rotation-rotate-secrets"},
        headers=api.admin,
    ).json()["auditLogs"]
    failed = [e for e in events if e["metadata"].get("status") == "failed"]
    assert [e["metadata"]["rotationId"] for e in failed] == [rotation["id"]]
    assert failed[0]["metadata"]["errorCode"] == "connection_refused"


def test_exhausted_retries_notify_once(
    scheduling: Scheduling, slapd_private: SlapdServer, private_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd_private, private_user.dn)
    slapd_private.stop()
    scheduling.fail_until_exhausted(rotation["id"])
    assert [rotation_id for rotation_id, _ in scheduling.failures] == [rotation["id"]]


def test_after_exhausted_retries_the_next_try_is_the_next_day_at_rotate_time(
    scheduling: Scheduling, slapd_private: SlapdServer, private_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd_private, private_user.dn)
    slapd_private.stop()
    scheduling.fail_until_exhausted(rotation["id"])
    next_day = datetime(2030, 3, 19, 2, 30, tzinfo=UTC)
    scheduling.clock.set(next_day - timedelta(seconds=1))
    assert scheduling.run_due() == 0
    scheduling.clock.set(next_day)
    assert scheduling.run_due() == 1


def test_rotation_succeeds_and_loses_nothing_when_the_directory_returns(
    scheduling: Scheduling, slapd_private: SlapdServer, private_user: LdapUser
) -> None:
    rotation = weekly_rotation(scheduling, slapd_private, private_user.dn)
    before = stored_secret(scheduling.api, "LDAP_PASSWORD")
    slapd_private.stop()
    scheduling.fail_until_exhausted(rotation["id"])
    slapd_private.start()
    assert slapd_private.can_bind(private_user.dn, before)
    scheduling.clock.set(datetime(2030, 3, 19, 2, 30, tzinfo=UTC))
    scheduling.run_due()
    after = stored_secret(scheduling.api, "LDAP_PASSWORD")
    assert scheduling.row(rotation["id"]).rotation_status == "success"
    assert slapd_private.can_bind(private_user.dn, after)
    assert not slapd_private.can_bind(private_user.dn, before)


def test_outage_between_change_and_verify_is_finished_when_the_directory_returns(
    scheduling: Scheduling, slapd_private: SlapdServer, private_user: LdapUser
) -> None:
    """The password changed, then the directory went away before the verifying bind:
    the attempt stays unfinished (not failed) and completes on the next try."""
    rotation = weekly_rotation(scheduling, slapd_private, private_user.dn)
    before = stored_secret(scheduling.api, "LDAP_PASSWORD")
    scheduling.clock.set(FIRST_DUE)
    scheduling.gate.arm("changed-committed")
    scheduling.worker.run_once()
    scheduling.gate.wait_reached("changed-committed")
    slapd_private.stop()
    scheduling.gate.release("changed-committed")
    assert scheduling.worker.wait_idle(20)
    assert stored_secret(scheduling.api, "LDAP_PASSWORD") == before
    slapd_private.start()
    due = scheduling.row(rotation["id"]).due_at
    assert due is not None
    scheduling.clock.set(due)
    assert scheduling.run_due() == 1
    after = stored_secret(scheduling.api, "LDAP_PASSWORD")
    assert after != before
    assert slapd_private.can_bind(private_user.dn, after)
