"""Crash safety: a real ``ldapkeeper serve`` killed with SIGKILL loses no password.

The server runs as a child in its own process group; the tests kill the whole group from
outside — at every step boundary of the engine (held there by the test-only switch
``LDAPKEEPER_TEST_HOLD_AT``) and at random moments during concurrent rotations — restart it
on the same SQLite file, wait until recovery has finished, and prove against the real slapd
that every stored password binds.

One kill round serves several tests (module-scoped fixtures): a round rotates an admin
reset, a bind account changing its own password and a target-principal account, each held
at the same step, then kills the process once. Server starts are what these tests cost.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from tests.support import ldapclient
from tests.support.server_process import ServerProcess, json_of
from tests.support.slapd import SlapdServer

HOLD_STEPS = [
    "pending-committed",
    "touched-committed",
    "directory-changed",
    "changed-committed",
    "verified-committed",
    "committed",
]
METHODS = ("reset", "self", "target")
RECOVERY_TIMEOUT = 20.0
ROTATIONS = "/api/v2/secret-rotations/ldap-password"


@dataclass(frozen=True)
class Account:
    """A rotated directory account and where ldapkeeper keeps its password."""

    rotation_id: str
    connection_id: str
    dn: str
    path: str
    directory: SlapdServer
    method: str


@dataclass(frozen=True)
class KillRound:
    """Accounts whose rotation was killed (by method), and their passwords before it."""

    accounts: dict[str, Account]
    before: dict[str, str]


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``ldapkeeper serve`` child on a fresh SQLite data dir for the module."""
    process = ServerProcess(tmp_path_factory.mktemp("server"))
    process.start()
    yield process
    process.stop()


def running(server: ServerProcess) -> ServerProcess:
    if not server.is_running:
        server.start()
    return server


def _unique(prefix: str) -> str:
    return f"{prefix}-{random.getrandbits(40):010x}"


def create_connection(
    server: ServerProcess, directory: SlapdServer, *, dn: str, password: str
) -> str:
    body = {
        "name": _unique("conn"),
        "method": "simple-bind",
        "projectId": server.project_id(),
        "credentials": {
            "provider": "open-ldap",
            "url": directory.ldaps_url,
            "dn": dn,
            "password": password,
            "sslRejectUnauthorized": True,
            "sslCertificate": directory.ca_pem,
        },
    }
    with server.client() as client:
        created = json_of(client.post("/api/v1/app-connections/ldap", json=body))
    connection_id: str = created["appConnection"]["id"]
    return connection_id


def create_account(
    server: ServerProcess,
    directory: SlapdServer,
    *,
    method: str,
    admin_connection_id: str | None = None,
) -> Account:
    """A new slapd user with a rotation. ``method``: ``reset`` (by the pwadmin account),
    ``self`` (the connection binds as the user itself) or ``target`` (target-principal)."""
    uid = _unique("crash")
    password = ldapclient.make_password()
    dn = directory.add_user(uid, password)
    if method == "self":
        connection_id = create_connection(server, directory, dn=dn, password=password)
    else:
        connection_id = admin_connection_id or create_connection(
            server, directory, dn=directory.admin_dn, password=directory.admin_password
        )
    body: dict[str, object] = {
        "name": uid,
        "projectId": server.project_id(),
        "connectionId": connection_id,
        "environment": "dev",
        "secretPath": f"/{uid}",
        "rotationInterval": 30,
        "parameters": {
            "dn": dn,
            "rotationMethod": "target-principal" if method == "target" else "connection-principal",
        },
    }
    if method == "target":
        body["temporaryParameters"] = {"password": password}
    with server.client() as client:
        rotation = json_of(client.post(ROTATIONS, json=body))["secretRotation"]
    return Account(rotation["id"], connection_id, dn, f"/{uid}", directory, method)


def stored_password(client: httpx.Client, project_id: str, account: Account) -> str:
    response = client.get(
        "/api/v3/secrets/raw/LDAP_PASSWORD",
        params={"workspaceId": project_id, "environment": "dev", "secretPath": account.path},
    )
    value: str = json_of(response)["secret"]["secretValue"]
    return value


def history(client: httpx.Client, account: Account) -> list[dict[str, object]]:
    attempts: list[dict[str, object]] = json_of(
        client.get(f"{ROTATIONS}/{account.rotation_id}/history")
    )["history"]
    return attempts


def wait_until_recovered(server: ServerProcess, accounts: list[Account]) -> None:
    """Poll (bounded) until no account has an attempt in progress."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    with server.client() as client:
        pending = list(accounts)
        while True:
            pending = [
                a for a in pending if any(h["status"] == "in-progress" for h in history(client, a))
            ]
            if not pending:
                return
            if time.monotonic() > deadline:
                states = {a.rotation_id: history(client, a)[0] for a in pending}
                raise AssertionError(f"not recovered in {RECOVERY_TIMEOUT}s: {states}")
            time.sleep(0.05)


def lost_passwords(server: ServerProcess, account: Account) -> list[str]:
    """What does not bind of what ldapkeeper keeps for ``account`` (empty: nothing lost)."""
    lost: list[str] = []
    with server.client() as client:
        stored = stored_password(client, server.project_id(), account)
        if not account.directory.can_bind(account.dn, stored):
            lost.append("the stored LDAP_PASSWORD")
        body = json_of(client.get(f"{ROTATIONS}/{account.rotation_id}/generated-credentials"))
        active = body["generatedCredentials"][body["activeIndex"]]["password"]
        if active != stored and not account.directory.can_bind(account.dn, active):
            lost.append("the active generated credential")
        if account.method == "self":
            check = json_of(
                client.post(f"/api/v1/app-connections/ldap/{account.connection_id}/check")
            )
            if check["status"] != "ok":
                lost.append(f"the connection's password ({check})")
    return lost


def current_password(server: ServerProcess, account: Account) -> str:
    with server.client() as client:
        return stored_password(client, server.project_id(), account)


def rotate_in_background(server: ServerProcess, account: Account) -> threading.Thread:
    """POST rotate-secrets from a client thread (the kill cuts its connection)."""

    def call() -> None:
        try:
            with server.client(timeout=60) as client:
                client.post(f"{ROTATIONS}/{account.rotation_id}/rotate-secrets")
        except httpx.TransportError:
            pass

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def kill_at(server: ServerProcess, step: str, accounts: list[Account]) -> None:
    """Start the server held at ``step``; rotate each account until it holds there (one at
    a time, so each reports); SIGKILL the process group; start it again (no hold)."""
    server.stop()
    server.start(hold_at=step)
    callers = []
    for account in accounts:
        callers.append(rotate_in_background(server, account))
        assert server.wait_for_hold(rearm=True) == step
    server.kill()
    for caller in callers:
        caller.join(10)


def wait_until_old_passwords_die(kill: KillRound) -> None:
    """Poll (bounded) until the directory no longer takes any account's old password."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    alive = dict(kill.accounts)
    while alive:
        alive = {m: a for m, a in alive.items() if a.directory.can_bind(a.dn, kill.before[m])}
        if alive and time.monotonic() > deadline:
            raise AssertionError(f"recovery did not change {sorted(alive)}")
        time.sleep(0.02)


def kill_round(
    server: ServerProcess, directory: SlapdServer, step: str, *, kill_reapply: bool = False
) -> KillRound:
    """Accounts of every method, killed at ``step``. With ``kill_reapply`` the restarted
    worker's recovery is killed too, once it has re-applied every change (held at
    "directory-changed"). Then a clean start recovers them."""
    accounts = {m: create_account(server, directory, method=m) for m in METHODS}
    kill = KillRound(accounts, {m: current_password(server, a) for m, a in accounts.items()})
    kill_at(server, step, list(accounts.values()))
    if kill_reapply:
        server.start(hold_at="directory-changed")  # recovery runs at start and holds there
        server.wait_for_hold()
        wait_until_old_passwords_die(kill)
        server.kill()
    server.start()
    wait_until_recovered(server, list(accounts.values()))
    return kill


@pytest.fixture(scope="module", params=HOLD_STEPS)
def killed_once(
    request: pytest.FixtureRequest, server_process: ServerProcess, slapd: SlapdServer
) -> KillRound:
    """A kill round at one step boundary (every step in turn)."""
    return kill_round(running(server_process), slapd, request.param)


@pytest.fixture(scope="module")
def killed_twice(server_process: ServerProcess, slapd_ppolicy: SlapdServer) -> KillRound:
    """Killed after marking the directory touched, then again while recovery re-applies the
    change (after the probe failed): the third start re-applies without a probe, and the
    ppolicy directory answers a repeated reset with "not being changed from existing value"."""
    return kill_round(
        running(server_process), slapd_ppolicy, "touched-committed", kill_reapply=True
    )


def assert_driven_to_the_end(server: ServerProcess, kill: KillRound, method: str) -> None:
    """The killed attempt itself was completed (not replaced); the old password is dead."""
    account = kill.accounts[method]
    with server.client() as client:
        statuses = [a["status"] for a in history(client, account)]
    assert statuses == ["success", "success"]
    assert not account.directory.can_bind(account.dn, kill.before[method])


@pytest.mark.parametrize("method", METHODS)
def test_kill_at_any_step_loses_no_password(
    server_process: ServerProcess, killed_once: KillRound, method: str
) -> None:
    assert lost_passwords(running(server_process), killed_once.accounts[method]) == []


@pytest.mark.parametrize("method", METHODS)
def test_recovery_after_a_kill_completes_the_attempt(
    server_process: ServerProcess, killed_once: KillRound, method: str
) -> None:
    assert_driven_to_the_end(running(server_process), killed_once, method)


@pytest.mark.parametrize("method", METHODS)
def test_second_kill_during_recovery_loses_no_password(
    server_process: ServerProcess, killed_twice: KillRound, method: str
) -> None:
    assert lost_passwords(running(server_process), killed_twice.accounts[method]) == []


@pytest.mark.parametrize("method", METHODS)
def test_repeated_change_after_a_second_kill_counts_as_done(
    server_process: ServerProcess, killed_twice: KillRound, method: str
) -> None:
    assert_driven_to_the_end(running(server_process), killed_twice, method)


# -- random kills during concurrent rotations ------------------------------------------------

RANDOM_ACCOUNTS = 20
RANDOM_ROUNDS = 5
CLIENT_THREADS = 6


def hammer(server: ServerProcess, accounts: list[Account], stop: threading.Event) -> list[str]:
    """Rotate random accounts until the server dies or ``stop``; returns unexpected answers."""
    unexpected: list[str] = []
    rng = random.Random()
    with server.client(timeout=30) as client:
        while not stop.is_set():
            account = rng.choice(accounts)
            try:
                response = client.post(f"{ROTATIONS}/{account.rotation_id}/rotate-secrets")
            except httpx.TransportError:
                break
            if response.status_code == 400 and "already in progress" in response.text:
                continue
            if response.status_code != 200:
                unexpected.append(f"{account.method}: {response.status_code} {response.text}")
    return unexpected


@dataclass
class RandomKills:
    accounts: list[Account]
    unexpected: list[str]
    lost: dict[str, list[str]]
    kills: int


@pytest.fixture(scope="module")
def random_kills(server_process: ServerProcess, slapd_ppolicy: SlapdServer) -> RandomKills:
    """20 accounts (all three methods) on the ppolicy slapd; rounds of concurrent
    rotate-now calls, each ended by a SIGKILL at a random moment, then recovery; after every
    round, what no longer binds is collected."""
    server = running(server_process)
    rng = random.Random()
    admin = create_connection(
        server, slapd_ppolicy, dn=slapd_ppolicy.admin_dn, password=slapd_ppolicy.admin_password
    )
    methods = ["self"] * 4 + ["target"] * 4 + ["reset"] * (RANDOM_ACCOUNTS - 8)
    accounts = [
        create_account(server, slapd_ppolicy, method=m, admin_connection_id=admin) for m in methods
    ]
    outcome = RandomKills(accounts, [], {}, 0)
    for round_number in range(RANDOM_ROUNDS):
        stop = threading.Event()
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            calls = [pool.submit(hammer, server, accounts, stop) for _ in range(CLIENT_THREADS)]
            time.sleep(rng.uniform(0.2, 1.5))  # the random moment of the crash
            server.kill()
            outcome.kills += 1
            stop.set()
            outcome.unexpected += [item for call in calls for item in call.result(30)]
        server.start()
        wait_until_recovered(server, accounts)
        for account in accounts:
            if lost := lost_passwords(server, account):
                outcome.lost[f"round {round_number}: {account.method} {account.dn}"] = lost
    return outcome


def test_random_kills_during_concurrent_rotations_lose_no_password(
    random_kills: RandomKills,
) -> None:
    assert random_kills.kills == RANDOM_ROUNDS
    assert random_kills.lost == {}


def test_concurrent_rotations_fail_only_with_already_in_progress(
    random_kills: RandomKills,
) -> None:
    assert random_kills.unexpected == []
