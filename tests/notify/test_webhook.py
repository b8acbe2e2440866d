"""Failure notifications: a JSON POST to the operator's webhook, tested against a local
HTTP receiver on 127.0.0.1 after a rotation really failed (its slapd stopped)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tests.support.app import Api
from tests.support.rotations import (
    Scheduling,
    build_scheduling,
    create_rotation,
    rotation_body,
    slapd_admin_connection,
    stored_secret,
)
from tests.support.slapd import SlapdServer

from ldapkeeper.notify.webhook import WebhookNotifier

WAIT_SECONDS = 10.0


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POSTed JSON body."""

    def __init__(self, status: int = 204) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.content_types.append(self.headers.get("Content-Type", ""))
                received.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/ldapkeeper"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT_SECONDS
        while len(self.bodies) < count:
            assert time.monotonic() < deadline, f"{len(self.bodies)} of {count} POSTs arrived"
            time.sleep(0.01)
        return self.bodies

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def notifying(api: Api, receiver: Receiver) -> Iterator[Scheduling]:
    """The fake-clock engine notifying the receiver on failure."""
    built = build_scheduling(api, on_failure=WebhookNotifier(receiver.url).rotation_failed)
    yield built
    built.worker.stop()


def failed_rotation(scheduling: Scheduling, directory: SlapdServer) -> dict[str, Any]:
    """A rotation whose five scheduled tries failed because its directory is down."""
    api = scheduling.api
    dn = directory.add_user("notified", "Initial-password-0")
    connection = slapd_admin_connection(api, directory)
    rotation = create_rotation(api, rotation_body(api, connection["id"], dn))
    directory.stop()
    scheduling.fail_until_exhausted(rotation["id"])
    return rotation


def test_exhausted_retries_post_the_failure_as_json(
    notifying: Scheduling, receiver: Receiver, slapd_private: SlapdServer
) -> None:
    rotation = failed_rotation(notifying, slapd_private)
    [body] = receiver.wait_for(1)
    assert receiver.content_types == ["application/json"]
    assert body["event"] == "secret-rotation-failed"
    assert body["rotationId"] == rotation["id"]
    assert body["rotationName"] == rotation["name"]
    assert body["projectId"] == notifying.api.project_id
    assert "Connection refused" in body["message"]


def test_webhook_payload_holds_no_password(
    notifying: Scheduling, receiver: Receiver, slapd_private: SlapdServer
) -> None:
    failed_rotation(notifying, slapd_private)
    stored = stored_secret(notifying.api, "LDAP_PASSWORD")
    [body] = receiver.wait_for(1)
    text = json.dumps(body)
    assert stored not in text
    assert slapd_private.admin_password not in text


def test_tries_before_exhaustion_send_nothing(
    notifying: Scheduling, receiver: Receiver, slapd_private: SlapdServer
) -> None:
    api = notifying.api
    dn = slapd_private.add_user("quiet", "Initial-password-0")
    connection = slapd_admin_connection(api, slapd_private)
    rotation = create_rotation(api, rotation_body(api, connection["id"], dn))
    slapd_private.stop()
    notifying.clock.set(notifying.row(rotation["id"]).next_rotation_at or notifying.clock.now())
    notifying.run_due()
    assert notifying.failures == []
    assert receiver.bodies == []


def test_manual_rotation_failure_is_posted(
    notifying: Scheduling, receiver: Receiver, slapd_private: SlapdServer
) -> None:
    api = notifying.api
    dn = slapd_private.add_user("manual", "Initial-password-0")
    connection = slapd_admin_connection(api, slapd_private)
    rotation = create_rotation(api, rotation_body(api, connection["id"], dn))
    slapd_private.stop()
    response = api.client.post(
        f"/api/v2/secret-rotations/ldap-password/{rotation['id']}/rotate-secrets",
        headers=api.admin,
    )
    assert response.status_code == 400
    [body] = receiver.wait_for(1)
    assert body["rotationId"] == rotation["id"]


def test_unreachable_webhook_does_not_stop_the_rotation_from_failing_cleanly(
    api: Api, slapd_private: SlapdServer
) -> None:
    dead = Receiver()
    url = dead.url
    dead.close()  # nothing listens there any more
    scheduling = build_scheduling(api, on_failure=WebhookNotifier(url, timeout=1).rotation_failed)
    try:
        rotation = failed_rotation(scheduling, slapd_private)
        assert scheduling.row(rotation["id"]).rotation_status == "failed"
    finally:
        scheduling.worker.stop()
