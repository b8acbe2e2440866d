"""Connections: DNS-rebinding defence for ldaps, the handshake probe remembered per
endpoint, and referral chasing against real slapd."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap
import pytest
from pydantic import SecretStr

from ldapkeeper.directory import BindCredentials, DirectoryError
from ldapkeeper.ldap.connection import Connector, Session, follow_referrals
from ldapkeeper.ldap.guard import system_resolver
from ldapkeeper.ldap.referrals import ReferralTrust
from ldapkeeper.ldap.tls import CaStore
from ldapkeeper.ldap.urls import LdapUrl
from tests.ldap.builders import LOOPBACK, creds_for, make_directory
from tests.support.ldap_extra import TcpRelay, add_referral
from tests.support.slapd import LdapUser, SlapdServer

pytestmark = pytest.mark.slapd

#: A loopback address no test server uses.
RELAY_HOST = "127.0.0.77"


def test_ldaps_by_name_binds_when_dns_and_libldap_agree(slapd: SlapdServer, tmp_path: Path) -> None:
    directory = make_directory(tmp_path, resolver=lambda host, port: ["127.0.0.1"])
    creds = creds_for(
        slapd,
        slapd.admin_dn,
        slapd.admin_password,
        url=f"ldaps://localhost:{slapd.ldaps_port}",
        ca=None,
        verify=False,
    )
    assert directory.check(creds=creds) > 0


def test_ldaps_is_dropped_before_binding_when_libldap_reaches_another_address(
    slapd: SlapdServer, tmp_path: Path
) -> None:
    # The guard approves 127.0.0.77 (a relay to slapd), libldap's own lookup of
    # "localhost" reaches 127.0.0.1: as if DNS had changed between check and connect.
    relay = TcpRelay(RELAY_HOST, slapd.ldaps_port, (slapd.host, slapd.ldaps_port))
    try:
        directory = make_directory(tmp_path, resolver=lambda host, port: [RELAY_HOST])
        creds = creds_for(
            slapd,
            slapd.admin_dn,
            slapd.admin_password,
            url=f"ldaps://localhost:{slapd.ldaps_port}",
            ca=None,
            verify=False,
        )
        with pytest.raises(DirectoryError) as caught:
            directory.check(creds=creds)
    finally:
        relay.close()
    assert caught.value.code == "blocked_address"
    assert "not at an approved address" in caught.value.message


# -- the handshake probe, remembered per endpoint ------------------------------------------


class SwitchableRelay(TcpRelay):
    """A relay on 127.0.0.1 that counts connections and can turn silent (accept, never
    answer) or be pointed at another target, as a server that changed meanwhile."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.silent = threading.Event()
        self._count_lock = threading.Lock()
        self._accepted = 0
        super().__init__("127.0.0.1", 0, target)

    @property
    def url(self) -> str:
        return f"ldaps://{self.host}:{self.port}"

    @property
    def accepted(self) -> int:
        with self._count_lock:
            return self._accepted

    def handle(self, conn: socket.socket) -> None:
        with self._count_lock:
            self._accepted += 1
        if self.silent.is_set():
            self._stop.wait()
            return
        super().handle(conn)


@pytest.fixture
def relay(slapd: SlapdServer) -> Iterator[SwitchableRelay]:
    """A relay to slapd's ldaps port (the server certificate names 127.0.0.1)."""
    relayed = SwitchableRelay((slapd.host, slapd.ldaps_port))
    yield relayed
    relayed.close()


def relay_creds(slapd: SlapdServer, relay: SwitchableRelay, **kwargs: Any) -> BindCredentials:
    return creds_for(slapd, slapd.admin_dn, slapd.admin_password, url=relay.url, **kwargs)


def test_ldaps_to_an_endpoint_probed_moments_ago_is_not_probed_again(
    slapd: SlapdServer, relay: SwitchableRelay, tmp_path: Path
) -> None:
    directory = make_directory(tmp_path)
    directory.check(creds=relay_creds(slapd, relay))
    assert relay.accepted == 2  # the probe's connection and libldap's
    directory.check(creds=relay_creds(slapd, relay))
    assert relay.accepted == 3  # libldap's only


def test_ldaps_probe_is_not_remembered_for_other_tls_settings(
    slapd: SlapdServer, relay: SwitchableRelay, tmp_path: Path
) -> None:
    directory = make_directory(tmp_path)
    directory.check(creds=relay_creds(slapd, relay))
    directory.check(creds=relay_creds(slapd, relay, ca=None, verify=False))
    assert relay.accepted == 4  # probed again: another CA file and verification setting


def test_ldaps_to_an_endpoint_silent_since_its_probe_times_out_within_the_bound(
    slapd: SlapdServer, relay: SwitchableRelay, tmp_path: Path
) -> None:
    directory = make_directory(tmp_path, timeout=1.5)
    directory.check(creds=relay_creds(slapd, relay))
    relay.silent.set()
    started = time.monotonic()
    with pytest.raises(DirectoryError) as caught:
        directory.check(creds=relay_creds(slapd, relay))
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 1.5 + 1


def test_ldaps_failure_makes_the_next_connection_probe_again(
    slapd: SlapdServer, relay: SwitchableRelay, tmp_path: Path
) -> None:
    connector = Connector(
        timeout=1.5, policy=LOOPBACK, resolver=system_resolver(1.5), ca_store=CaStore(tmp_path)
    )
    settings = connector.settings_for(relay_creds(slapd, relay))
    key = ("127.0.0.1", relay.port, "127.0.0.1", settings.ca_file, True)
    connector.open_any(settings).close()
    assert connector.probes.fresh(key)
    relay.silent.set()
    with pytest.raises(DirectoryError):
        connector.open_any(settings)
    assert not connector.probes.fresh(key)


def test_ldaps_to_an_endpoint_closed_since_its_probe_fails_over(
    slapd: SlapdServer, relay: SwitchableRelay, tmp_path: Path
) -> None:
    # Refused is an outage (the next URL is tried), not a TLS failure, probe or not.
    directory = make_directory(tmp_path)
    directory.check(creds=relay_creds(slapd, relay))
    relay.close()
    creds = relay_creds(slapd, relay, failover=(slapd.ldaps_url,))
    assert directory.check(creds=creds) > 0


def test_ldaps_to_an_endpoint_no_longer_speaking_tls_is_a_tls_error_with_its_reason(
    slapd: SlapdServer, relay: SwitchableRelay, tmp_path: Path
) -> None:
    directory = make_directory(tmp_path)
    directory.check(creds=relay_creds(slapd, relay))
    relay.target = (slapd.host, slapd.ldap_port)  # plain LDAP behind the same endpoint
    with pytest.raises(DirectoryError) as remembered:
        directory.check(creds=relay_creds(slapd, relay))
    with pytest.raises(DirectoryError) as fresh:
        make_directory(tmp_path / "fresh").check(creds=relay_creds(slapd, relay))
    assert remembered.value.code == fresh.value.code == "tls_error"
    assert remembered.value.message == fresh.value.message
    assert "TLS handshake failed" in remembered.value.message


class PausableRelay(SwitchableRelay):
    """A relay that can stop accepting. While it does not, with its accept queue full
    (backlog 0 and one connection waiting) the kernel drops new SYNs: a client's TCP
    connect completes only with its SYN retransmission, about a second later, as a connect
    to a distant server completes only after a round trip."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.accepting = threading.Event()
        self.accepting.set()
        self.paused = threading.Event()
        super().__init__(target)
        self._server.listen(0)

    def pause(self) -> None:
        """Stop accepting (returns once no accept() is in progress)."""
        self.accepting.clear()
        assert self.paused.wait(5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.accepting.is_set():
                self.paused.set()
                self.accepting.wait(0.05)
                continue
            self.paused.clear()
            if not self._accept_one():
                return


def _connects_within(port: int, seconds: float) -> bool:
    with socket.socket() as sock:
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        return bool(select.select([], [sock], [], seconds)[1])


def test_ldaps_without_a_probe_waits_for_a_tcp_connect_that_is_not_immediate(
    slapd: SlapdServer, tmp_path: Path
) -> None:
    # libldap connects asynchronously (OPT_CONNECT_ASYNC): a connect still in progress
    # when its first request is sent must be waited for, not reported as a failure.
    relay = PausableRelay((slapd.host, slapd.ldaps_port))
    filler: socket.socket | None = None
    try:
        directory = make_directory(tmp_path)
        creds = relay_creds(slapd, relay)
        directory.check(creds=creds)  # probed: the next connection is libldap's alone
        relay.pause()
        filler = socket.create_connection(("127.0.0.1", relay.port))  # fills the queue
        assert not _connects_within(relay.port, 0.2)  # a SYN is dropped now
        before = relay.accepted
        threading.Timer(0.3, relay.accepting.set).start()
        assert directory.check(creds=creds) > 0
        # The filler and libldap's one connection: no failed attempt probed again.
        assert relay.accepted - before == 2
    finally:
        relay.accepting.set()
        if filler is not None:
            filler.close()
        relay.close()


# -- referrals ----------------------------------------------------------------------------


@pytest.fixture
def connector(tmp_path: Path) -> Connector:
    return Connector(
        timeout=5.0, policy=LOOPBACK, resolver=system_resolver(5.0), ca_store=CaStore(tmp_path)
    )


def root_creds(slapd: SlapdServer) -> BindCredentials:
    return creds_for(slapd, slapd.root_dn, slapd.root_password)


def root_session(connector: Connector, slapd: SlapdServer, url: LdapUrl | None = None) -> Session:
    settings = connector.settings_for(root_creds(slapd))
    session = connector.open(settings, url or settings.urls[0])
    session.bind(slapd.root_dn, slapd.root_password)
    return session


def describe(conn: ldap.LDAPObject, dn: str) -> str:
    conn.modify_s(dn, [(ldap.MOD_REPLACE, "description", [b"set via referral"])])
    return dn


def referral_object(slapd: SlapdServer, target: str) -> str:
    dn = f"ou=moved-{os.urandom(3).hex()},{slapd.base_dn}"
    add_referral(slapd.ldap_url, slapd.root_dn, slapd.root_password, dn, target)
    return dn


def trust_for(slapd: SlapdServer) -> ReferralTrust:
    return ReferralTrust.build(urls=[slapd.ldaps_url], bind_name=slapd.root_dn)


def test_referral_to_a_trusted_host_is_followed_with_protocol_and_port_kept(
    slapd: SlapdServer, ldap_user: LdapUser, connector: Connector
) -> None:
    moved = referral_object(slapd, f"ldap://127.0.0.1:{slapd.ldap_port}/{slapd.people_dn}")
    reconnected: list[str] = []

    def reconnect(url: LdapUrl) -> Session:
        reconnected.append(str(url))
        return root_session(connector, slapd, url)

    session = root_session(connector, slapd)
    try:
        final_dn = follow_referrals(
            session,
            dn=f"uid={ldap_user.uid},{moved}",
            operation=describe,
            trust=trust_for(slapd),
            reconnect=reconnect,
        )
    finally:
        session.close()
    assert final_dn.lower() == ldap_user.dn.lower()
    assert reconnected == [f"ldaps://127.0.0.1:{slapd.ldaps_port}"]  # not the ldap:// it named
    assert slapd.read_attrs(ldap_user.dn, "description")["description"] == [b"set via referral"]


def test_referral_to_an_untrusted_host_is_refused_without_connecting(
    slapd: SlapdServer, connector: Connector
) -> None:
    moved = referral_object(slapd, f"ldap://dc9.evil.example.net/{slapd.people_dn}")
    session = root_session(connector, slapd)

    def reconnect(url: LdapUrl) -> Session:
        raise AssertionError(f"must not connect to {url}")

    try:
        with pytest.raises(DirectoryError) as caught:
            follow_referrals(
                session,
                dn=f"uid=someone,{moved}",
                operation=describe,
                trust=trust_for(slapd),
                reconnect=reconnect,
            )
    finally:
        session.close()
    assert caught.value.code == "referral_refused"
    assert "dc9.evil.example.net" in caught.value.message


def test_referral_loop_is_refused(slapd: SlapdServer, connector: Connector) -> None:
    name = f"ou=loop-{os.urandom(3).hex()},{slapd.base_dn}"
    add_referral(
        slapd.ldap_url, slapd.root_dn, slapd.root_password, name, f"ldap://127.0.0.1/{name}"
    )
    session = root_session(connector, slapd)
    try:
        with pytest.raises(DirectoryError) as caught:
            follow_referrals(
                session,
                dn=f"uid=someone,{name}",
                operation=describe,
                trust=trust_for(slapd),
                reconnect=lambda url: root_session(connector, slapd, url),
            )
    finally:
        session.close()
    assert caught.value.code == "referral_refused"
    assert "loop" in caught.value.message


def test_referral_answer_to_password_modify_is_operation_failed(
    slapd: SlapdServer, ldap_user: LdapUser, tmp_path: Path
) -> None:
    # slapd answers Password Modify below a referral object with 53 "referral missing".
    moved = referral_object(slapd, f"ldap://127.0.0.1:{slapd.ldap_port}/{slapd.people_dn}")
    directory = make_directory(tmp_path)
    with pytest.raises(DirectoryError) as caught:
        directory.reset_password(
            creds=creds_for(slapd, slapd.admin_dn, slapd.admin_password),
            target_dn=f"uid={ldap_user.uid},{moved}",
            new_password=SecretStr("Unused-pw-123"),
        )
    assert caught.value.code == "operation_failed"
    assert slapd.can_bind(ldap_user.dn, ldap_user.password)
