"""One connection whose bind account rotates its own password and also resets others'.

While the bind account changes its own password no other rotation may use the connection,
and a rotation that waited for it must bind with the password it has afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tests.support.rotations import (
    Scheduling,
    create_rotation,
    rotation_body,
    slapd_admin_connection,
    stored_secret,
)
from tests.support.slapd import SlapdServer

from ldapkeeper.rotations.engine import ConnectionLocks, Outcome

ROTATIONS = "/api/v2/secret-rotations/ldap-password"


def two_rotations(scheduling: Scheduling, directory: SlapdServer) -> tuple[str, str, str]:
    """(connection id, rotation of the bind account itself, rotation of another user)."""
    api = scheduling.api
    connection = slapd_admin_connection(api, directory)
    itself = create_rotation(
        api, rotation_body(api, connection["id"], directory.admin_dn, secret_path="/admin")
    )
    user_dn = directory.add_user("someone", "Initial-password-0")
    other = create_rotation(api, rotation_body(api, connection["id"], user_dn, name="someone"))
    return connection["id"], itself["id"], other["id"]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def run_in_thread(scheduling: Scheduling, rotation_id: str, outcomes: list[Outcome]) -> None:
    token = f"test-{rotation_id}"
    assert scheduling.engine.claim(rotation_id, token)

    def run() -> None:
        try:
            outcomes.append(scheduling.engine.run(rotation_id, token, manual=True))
        finally:
            scheduling.engine.release(rotation_id, token)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    scheduling.threads.append(thread)


def test_rotation_waiting_for_a_self_change_binds_with_the_new_password(
    scheduling: Scheduling, slapd_private: SlapdServer
) -> None:
    connection_id, itself, other = two_rotations(scheduling, slapd_private)
    outcomes: list[Outcome] = []
    scheduling.gate.arm("touched-committed")
    run_in_thread(scheduling, itself, outcomes)  # holds the connection exclusively
    scheduling.gate.wait_reached("touched-committed")
    run_in_thread(scheduling, other, outcomes)
    wait_for(lambda: scheduling.engine.locks.waiting(connection_id) == 1)
    scheduling.gate.release("touched-committed")
    scheduling.join_threads()
    assert [(o.state, o.message) for o in outcomes] == [("committed", None)] * 2


def test_unfinished_self_change_keeps_other_rotations_off_the_connection(
    scheduling: Scheduling, slapd_private: SlapdServer
) -> None:
    """After a crash mid self-change (the directory changed, the connection still holds
    the old password), a reset through that connection waits instead of failing."""
    api = scheduling.api
    _connection, itself, other = two_rotations(scheduling, slapd_private)
    outcomes: list[Outcome] = []
    scheduling.gate.arm("directory-changed")
    run_in_thread(scheduling, itself, outcomes)
    scheduling.gate.wait_reached("directory-changed")
    # As if the process died here and a new one started: no lock is held any more,
    # the attempt is unfinished, the connection still holds the old password.
    scheduling.engine.locks = ConnectionLocks()
    response = api.client.post(f"{ROTATIONS}/{other}/rotate-secrets", headers=api.admin)
    assert response.status_code == 400
    assert "changing its own password" in response.json()["message"]
    assert _failures(api, other) == 0
    scheduling.gate.release("directory-changed")
    scheduling.join_threads()


def _failures(api: Any, rotation_id: str) -> int:
    history = api.client.get(f"{ROTATIONS}/{rotation_id}/history", headers=api.admin).json()
    return sum(1 for h in history["history"] if h["status"] == "failed")


def test_both_rotations_keep_working_passwords(
    scheduling: Scheduling, slapd_private: SlapdServer
) -> None:
    _connection, itself, other = two_rotations(scheduling, slapd_private)
    outcomes: list[Outcome] = []
    run_in_thread(scheduling, itself, outcomes)
    run_in_thread(scheduling, other, outcomes)
    scheduling.join_threads()
    api = scheduling.api
    admin_password = stored_secret(api, "LDAP_PASSWORD", path="/admin")
    assert slapd_private.can_bind(slapd_private.admin_dn, admin_password)
    user_password = stored_secret(api, "LDAP_PASSWORD")
    assert slapd_private.can_bind(slapd_private.user_dn("someone"), user_password)
