"""Checks that must run inside a network namespace with loopback only.

``test_fuzz_openapi.py`` runs this file in a child pytest under ``unshare -n`` (so it is
not named ``test_*.py``: the normal run never collects it). Here nothing but 127.0.0.0/8
and ::1 exists, so a fuzzed or guard-bypassing URL can never reach a real address.

- The API fuzz: schemathesis generates valid and invalid requests for every operation of
  the app's own OpenAPI document, as the org admin, with a real project, connection,
  rotation, folder and identity mixed into the ids; no answer may be a 5xx, every answer
  must match its declared status, content type and schema. Afterwards the database is
  consistent: SQLite integrity and foreign keys, every sealed secret and connection
  password opens, every rotation's active password still binds.
- The network guard end to end: with default settings, connections to loopback in any
  spelling are refused with ``blocked_address`` before anything is sent.
"""

from __future__ import annotations

import collections
import json
import os
import random
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select, text

from ldapkeeper.connections.service import load_credentials
from ldapkeeper.db.models import AppConnection, Secret, SecretRotation
from ldapkeeper.secrets.service import read_secret_value
from tests.security.test_fuzz_openapi import EXAMPLES, NETNS_FLAG, REPORT_ENV
from tests.security.world import CONNECTIONS, ROTATIONS, ok
from tests.support.app import Api, build_api
from tests.support.slapd import SlapdServer

if os.environ.get(NETNS_FLAG) != "1":
    pytest.skip("runs only inside a loopback-only network namespace", allow_module_level=True)

_DATA = Path(tempfile.mkdtemp(prefix="ldapkeeper-fuzz-"))
#: The fuzzed server: only 127.0.0.0/8 may be reached, and here that holds nothing but slapd.
FUZZED: Api = build_api(
    _DATA / "data",
    f"sqlite:///{_DATA / 'ldapkeeper.db'}",
    allowed_networks=["127.0.0.0/8"],
    ldap_timeout_seconds=2.0,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", FUZZED.app)
STATUSES: collections.Counter[int] = collections.Counter()


def test_namespace_has_loopback_only() -> None:
    assert [name for _index, name in socket.if_nameindex()] == ["lo"]


class Known:
    """Real ids of the fuzzed server, mixed into generated requests."""

    values: dict[str, str] = {}  # filled once by the seeded fixture


@pytest.fixture(scope="module")
def seeded(slapd: SlapdServer) -> dict[str, str]:
    """A connection to the namespace's slapd, a rotation, a secret, a folder, an identity."""
    client, admin, project = FUZZED.client, FUZZED.admin, FUZZED.project_id
    body = {
        "name": "fuzz-directory",
        "method": "simple-bind",
        "projectId": project,
        "credentials": {
            "provider": "open-ldap",
            "url": slapd.ldaps_url,
            "dn": slapd.admin_dn,
            "password": slapd.admin_password,
            "sslCertificate": slapd.ca_pem,
        },
    }
    connection = ok(client.post(CONNECTIONS, json=body, headers=admin))["appConnection"]
    target = slapd.add_user("fuzz-target", "Initial-password-1")
    rotation = ok(
        client.post(
            ROTATIONS,
            json={
                "name": "fuzz-rotation",
                "projectId": project,
                "connectionId": connection["id"],
                "environment": "dev",
                "secretPath": "/ldap",
                "rotationInterval": 1,
                "parameters": {"dn": target},
            },
            headers=admin,
        )
    )["secretRotation"]
    folder = ok(
        client.post(
            "/api/v2/folders",
            json={"projectId": project, "environment": "dev", "name": "fuzz"},
            headers=admin,
        )
    )["folder"]
    identity = ok(client.post("/api/v1/identities", json={"name": "fuzz"}, headers=admin))
    Known.values = {
        "project_id": project,
        "projectId": project,
        "workspaceId": project,
        "connection_id": connection["id"],
        "connectionId": connection["id"],
        "rotation_id": rotation["id"],
        "folder_id": folder["id"],
        "folder_id_or_name": folder["id"],
        "identity_id": identity["identity"]["id"],
        "secret_name": "LDAP_PASSWORD",
        "environment": "dev",
    }
    return Known.values


def _mix_in_known_ids(case: Any) -> None:
    """Half the time, put a real id where the operation takes one (deterministic per case)."""
    chooser = random.Random(repr((case.method, case.path, case.path_parameters, case.query)))
    for container in (case.path_parameters, case.query):
        if not isinstance(container, dict):
            continue
        for name in list(container):
            if name in Known.values and chooser.random() < 0.5:
                container[name] = Known.values[name]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
    database=None,
)
def test_fuzzed_requests_get_no_5xx_and_answers_match_the_schema(
    case: Any, seeded: dict[str, str]
) -> None:
    del seeded  # the ids are in Known
    _mix_in_known_ids(case)
    case.headers = {**(case.headers or {}), **FUZZED.admin}
    response = case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
    STATUSES[response.status_code] += 1


def test_database_is_consistent_after_the_fuzz(seeded: dict[str, str], slapd: SlapdServer) -> None:
    runtime = FUZZED.runtime
    with runtime.db.read() as session:
        assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert session.execute(text("PRAGMA foreign_key_check")).all() == []
        for secret in session.scalars(select(Secret)):
            read_secret_value(session, runtime.keyring, secret)
        for connection in session.scalars(select(AppConnection)):
            load_credentials(session, runtime.keyring, connection)
        rotations = session.scalars(select(SecretRotation)).all()
    lost = []
    for rotation in rotations:
        credentials = FUZZED.client.get(
            f"{ROTATIONS}/{rotation.id}/generated-credentials", headers=FUZZED.admin
        )
        body = ok(credentials)
        active = body["generatedCredentials"][body["activeIndex"]]
        if not slapd.can_bind(active["dn"], active["password"]):
            lost.append(rotation.name)
    assert lost == []
    report = os.environ.get(REPORT_ENV)
    if report:
        Path(report).write_text(
            json.dumps({"statuses": dict(STATUSES), "examples_per_operation": EXAMPLES})
        )


# -- the network guard, end to end ---------------------------------------------------------


@pytest.fixture(scope="module")
def guarded() -> Api:
    """The app with default network settings: no internal address allowed at all."""
    directory = Path(tempfile.mkdtemp(prefix="ldapkeeper-guard-"))
    return build_api(
        directory / "data", f"sqlite:///{directory / 'ldapkeeper.db'}", allowed_networks=[]
    )


LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "[::1]",
    "0x7f000001",
    "localhost",
    "127.1",
    "2130706433",
    "0177.0.0.1",
    "[::ffff:127.0.0.1]",
    "LOCALHOST",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_connection_to_loopback_is_blocked_by_default(
    guarded: Api, slapd: SlapdServer, host: str
) -> None:
    # slapd listens there and would accept this bind: only the guard stands in between.
    body = {
        "name": "blocked",
        "method": "simple-bind",
        "projectId": guarded.project_id,
        "credentials": {
            "provider": "open-ldap",
            "url": f"ldap://{host}:{slapd.ldap_port}",
            "dn": slapd.admin_dn,
            "password": slapd.admin_password,
        },
    }
    response = guarded.client.post(CONNECTIONS, json=body, headers=guarded.admin)
    assert response.status_code == 400, response.text
    assert response.json()["details"]["code"] == "blocked_address"


def test_blocked_failover_url_is_refused_too(guarded: Api, slapd: SlapdServer) -> None:
    body = {
        "name": "blocked-failover",
        "method": "simple-bind",
        "projectId": guarded.project_id,
        "credentials": {
            "provider": "open-ldap",
            "url": "ldap://1.1.1.1:389",  # public, and unreachable in this namespace
            "dn": slapd.admin_dn,
            "password": slapd.admin_password,
            "failoverUrls": [slapd.ldap_url],
        },
    }
    response = guarded.client.post(CONNECTIONS, json=body, headers=guarded.admin)
    assert response.status_code == 400, response.text
    assert response.json()["details"]["code"] in {"blocked_address", "connection_refused"}
    listed = ok(
        guarded.client.get(
            CONNECTIONS, params={"projectId": guarded.project_id}, headers=guarded.admin
        )
    )
    assert listed["appConnections"] == []
