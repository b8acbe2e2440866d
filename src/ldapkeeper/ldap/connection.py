"""Opening bounded, guarded libldap connections.

- `ldap://` (with or without StartTLS): Python connects to an address the network guard
  approved and hands the socket to libldap (`ldap_init_fd`). libldap keeps the URL's host
  name, so a StartTLS certificate is checked against the name while the socket goes to
  the approved address: a second DNS answer cannot redirect it.
- `ldaps://`: libldap cannot take over a socket for implicit TLS, so it connects by host
  name itself (it must: the certificate is checked against that name). Before that, a
  Python TLS handshake with a deadline to an approved address proves the server answers
  (libldap's GnuTLS handshake has no deadline of its own in blocking mode); libldap then
  connects with `OPT_CONNECT_ASYNC`, which bounds its handshake by `OPT_NETWORK_TIMEOUT`,
  and reads the RootDSE anonymously. Only when the socket's peer is one of the approved
  addresses are credentials sent. The trade-off: if DNS changed in between, that anonymous
  request (never a password) reaches the other address before the connection is dropped.
- A clean probe is remembered per endpoint (address, port, name, CA file, verification)
  for `PROBE_CACHE_SECONDS`: within that window libldap connects without a new probe,
  still bounded by `OPT_NETWORK_TIMEOUT` and guarded and peer-checked as above. After any
  failure the endpoint is forgotten; after one other than a timeout it is probed and
  connected again at once, so that failures are classified (and explained) as ever.
- Every libldap call runs under `OPT_TIMEOUT` and a watchdog that shuts the socket down
  shortly after the same deadline, so no call can hang.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import ldap
from pydantic import SecretStr

from ldapkeeper.directory import BindCredentials, DirectoryError, Provider
from ldapkeeper.ldap.deadline import WATCHDOG
from ldapkeeper.ldap.errors import Phase, classify, is_wrong_password, ldap_details
from ldapkeeper.ldap.guard import IPAddress, NetworkPolicy, Resolver, approve_host
from ldapkeeper.ldap.redaction import Secret, redact
from ldapkeeper.ldap.referrals import ReferralTrust, decide_referral, referral_urls
from ldapkeeper.ldap.tls import (
    CaStore,
    ProbeCache,
    ProbeKey,
    apply_tls_options,
    connect_tcp,
    probe_tls,
    system_ca_file,
)
from ldapkeeper.ldap.urls import LdapUrl, parse_ldap_url

T = TypeVar("T")

#: The watchdog fires this long after libldap's own timeout, so that libldap normally
#: reports the timeout itself and the watchdog only catches the waits it does not bound.
WATCHDOG_GRACE_SECONDS = 0.25

#: How long a clean TLS handshake probe of an endpoint spares the next connections one.
PROBE_CACHE_SECONDS = 5.0

_REFERRAL = 10
_LIBLDAP_TIMEOUT = -5


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything about reaching a directory except who binds."""

    provider: Provider
    urls: tuple[LdapUrl, ...]
    start_tls: bool
    verify: bool
    ca_file: Path | None


@dataclass(frozen=True, slots=True)
class Referral:
    """A server's answer "ask elsewhere": the first referral URL it gave."""

    url: str


def _canonical(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Session:
    """One open libldap connection and the socket handle its watchdog uses."""

    def __init__(
        self, conn: ldap.LDAPObject, *, url: LdapUrl, watch: socket.socket, timeout: float
    ) -> None:
        self.conn = conn
        self.url = url
        self._watch = watch
        self._timeout = timeout
        self._closed = False

    @property
    def endpoint(self) -> str:
        """`host:port` of the server, for messages."""
        return self.url.netloc

    def _failure(
        self,
        exc: ldap.LDAPError,
        *,
        fired: bool,
        phase: Phase,
        secrets: Iterable[Secret],
        diagnose: Callable[[], str | None] | None,
    ) -> DirectoryError:
        if fired:
            return DirectoryError(
                "timeout", f"No answer from {self.endpoint} within {self._timeout:g} s"
            )
        timed_out = ldap_details(exc)[0] == _LIBLDAP_TIMEOUT
        # A diagnosis costs another handshake: worth it only when TLS itself failed.
        reason = diagnose() if diagnose is not None and not timed_out else None
        return classify(
            exc,
            phase=phase,
            endpoint=self.endpoint,
            timeout=self._timeout,
            secrets=secrets,
            tls_reason=reason,
        )

    def run(
        self,
        phase: Phase,
        action: Callable[[], T],
        *,
        secrets: Iterable[Secret] = (),
        diagnose: Callable[[], str | None] | None = None,
    ) -> T:
        """Run one libldap call under the deadline.

        Raises:
            DirectoryError: the classified, redacted failure (`timeout` when the watchdog
                had to shut the connection down).
        """
        with WATCHDOG.deadline(self._watch, self._timeout + WATCHDOG_GRACE_SECONDS) as alarm:
            try:
                return action()
            except ldap.LDAPError as exc:
                failure = self._failure(
                    exc, fired=alarm.fired, phase=phase, secrets=secrets, diagnose=diagnose
                )
        # Raised outside the except block: the python-ldap exception (whose text may echo
        # a password) is not kept as the DirectoryError's __context__.
        raise failure

    def attempt(self, action: Callable[[], T], *, secrets: Iterable[Secret]) -> T | Referral:
        """Like `run` for an operation, but a referral answer is returned, not raised."""
        with WATCHDOG.deadline(self._watch, self._timeout + WATCHDOG_GRACE_SECONDS) as alarm:
            try:
                return action()
            except ldap.LDAPError as exc:
                code, _, info, _ = ldap_details(exc)
                urls = referral_urls(info) if code == _REFERRAL and not alarm.fired else []
                if urls:
                    return Referral(urls[0])
                failure = self._failure(
                    exc, fired=alarm.fired, phase="operation", secrets=secrets, diagnose=None
                )
        raise failure

    def bind(self, dn: str, password: Secret) -> None:
        """Simple-bind as `dn`.

        Raises:
            DirectoryError: `invalid_input` for an empty name or password (that would be an
                anonymous bind), else the classified failure.
        """
        plain = _refuse_anonymous(dn, password)
        self.run("bind", lambda: self.conn.simple_bind_s(dn, plain), secrets=(password,))

    def try_bind(self, dn: str, password: Secret) -> bool:
        """Simple-bind as `dn`; False when the server says only that the password is wrong.

        Raises:
            DirectoryError: for anything else (see `bind`).
        """
        plain = _refuse_anonymous(dn, password)

        def bind() -> bool:
            try:
                self.conn.simple_bind_s(dn, plain)
            except ldap.INVALID_CREDENTIALS as exc:
                if is_wrong_password(exc):
                    return False
                raise
            return True

        return self.run("bind", bind, secrets=(password,))

    def close(self) -> None:
        """Unbind and release the socket (idempotent; errors ignored)."""
        if self._closed:
            return
        self._closed = True
        try:
            with WATCHDOG.deadline(self._watch, self._timeout):
                self.conn.unbind_ext_s()
        except ldap.LDAPError:
            pass  # the connection is going away anyway
        finally:
            self._watch.close()


def _refuse_anonymous(dn: str, password: Secret) -> str:
    plain = password.get_secret_value() if isinstance(password, SecretStr) else password
    if not dn.strip() or not plain:
        raise DirectoryError(
            "invalid_input", "An empty bind name or password is an anonymous bind; refused"
        )
    return plain


class Connector:
    """Opens sessions: guard, TCP, TLS and failover, within the timeout."""

    def __init__(
        self,
        *,
        timeout: float,
        policy: NetworkPolicy,
        resolver: Resolver,
        ca_store: CaStore,
        probe_cache_seconds: float = PROBE_CACHE_SECONDS,
    ) -> None:
        self.timeout = timeout
        self.policy = policy
        self.resolver = resolver
        self.ca_store = ca_store
        self.probes = ProbeCache(ttl_seconds=probe_cache_seconds)

    def settings_for(self, creds: BindCredentials) -> ServerSettings:
        """Parse the URLs of `creds` and place its CA bundle in a file.

        Raises:
            DirectoryError: `invalid_input` for a malformed URL; `operation_failed` when the
                CA directory is not writable.
        """
        urls = tuple(parse_ldap_url(url) for url in creds.urls)
        verify = creds.ssl_reject_unauthorized
        ca_file: Path | None = None
        if verify and creds.ssl_certificate and creds.ssl_certificate.strip():
            try:
                ca_file = self.ca_store.file_for(creds.ssl_certificate)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise DirectoryError(
                    "operation_failed",
                    f"Cannot store the CA certificate in {self.ca_store.directory}: {reason}",
                ) from None
        elif verify:
            ca_file = system_ca_file()
        return ServerSettings(creds.provider, urls, creds.start_tls, verify, ca_file)

    def open_any(self, settings: ServerSettings, secrets: Iterable[Secret] = ()) -> Session:
        """Open a session to the first URL that answers, in order.

        Only an unreachable server (refused, timeout, DNS) moves on to the next URL. Not
        a wrong password: trying it on every server would multiply lockout counts. Not a
        TLS failure: that is a security failure, not an outage, and another server that
        happens to pass must not paper over it. Not a blocked address: a misconfiguration.

        Raises:
            DirectoryError: the last URL's failure, or the first non-failover failure.
        """
        last: DirectoryError | None = None
        for url in settings.urls:
            try:
                return self.open(settings, url, secrets)
            except DirectoryError as err:
                if not err.unreachable:
                    raise
                last = err
        if last is None:
            raise DirectoryError("invalid_input", "The connection has no URL")
        raise last

    def open(
        self, settings: ServerSettings, url: LdapUrl, secrets: Iterable[Secret] = ()
    ) -> Session:
        """Open a session to `url` (each approved address in turn until one answers).

        Raises:
            DirectoryError: `blocked_address`, `dns_error`, `connection_refused`,
                `timeout` or `tls_error`.
        """
        addresses = approve_host(url.host, url.port, policy=self.policy, resolver=self.resolver)
        last: DirectoryError | None = None
        for address in addresses:
            try:
                if url.implicit_tls:
                    return self._open_ldaps(settings, url, address, addresses, secrets)
                return self._open_ldap(settings, url, address, secrets)
            except DirectoryError as err:
                if not err.unreachable:
                    raise
                last = err
        assert last is not None  # approve_host returns at least one address
        raise last

    def _configure(self, conn: ldap.LDAPObject, settings: ServerSettings, url: LdapUrl) -> None:
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, ldap.VERSION3)
        conn.set_option(ldap.OPT_REFERRALS, 0)  # chased by hand, to trusted hosts only
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, self.timeout)
        conn.set_option(ldap.OPT_TIMEOUT, self.timeout)
        conn.timeout = self.timeout
        if url.implicit_tls:
            conn.set_option(ldap.OPT_CONNECT_ASYNC, ldap.OPT_ON)
        if url.implicit_tls or settings.start_tls:
            apply_tls_options(conn, ca_file=settings.ca_file, verify=settings.verify)

    def _open_ldap(
        self,
        settings: ServerSettings,
        url: LdapUrl,
        address: IPAddress,
        secrets: Iterable[Secret],
    ) -> Session:
        sock = connect_tcp(str(address), url.port, timeout=self.timeout, endpoint=url.netloc)
        try:
            libldap_fd = os.dup(sock.fileno())
            try:
                conn = ldap.initialize(str(url), fileno=libldap_fd)
            except BaseException:
                os.close(libldap_fd)
                raise
        except BaseException:
            sock.close()
            raise
        session = Session(conn, url=url, watch=sock, timeout=self.timeout)
        try:
            self._configure(conn, settings, url)
            if settings.start_tls:

                def diagnose() -> str | None:
                    return self._diagnose(settings, url, address, start_tls=True)

                session.run("tls", conn.start_tls_s, secrets=secrets, diagnose=diagnose)
        except BaseException:
            session.close()
            raise
        return session

    def _open_ldaps(
        self,
        settings: ServerSettings,
        url: LdapUrl,
        address: IPAddress,
        approved: tuple[IPAddress, ...],
        secrets: Iterable[Secret],
    ) -> Session:
        key: ProbeKey = (str(address), url.port, url.host, settings.ca_file, settings.verify)
        if self.probes.fresh(key):
            try:
                return self._connect_ldaps(settings, url, approved, None, secrets)
            except _LibldapConnectFailed as failed:
                self.probes.forget(key)
                if failed.error.code == "timeout":
                    raise failed.error from None
                # Refused, reset, a TLS failure: probe now and connect again, as for an
                # endpoint not seen lately, so that it is classified and explained as ever.
            except BaseException:
                self.probes.forget(key)
                raise
        probe = probe_tls(
            address=str(address),
            port=url.port,
            server_hostname=url.host,
            ca_file=settings.ca_file,
            verify=settings.verify,
            start_tls=False,
            timeout=self.timeout,
            endpoint=url.netloc,
        )
        try:
            session = self._connect_ldaps(settings, url, approved, probe.problem, secrets)
        except _LibldapConnectFailed as failed:
            raise failed.error from None
        if probe.problem is None:
            self.probes.remember(key)
        return session

    def _connect_ldaps(
        self,
        settings: ServerSettings,
        url: LdapUrl,
        approved: tuple[IPAddress, ...],
        problem: str | None,
        secrets: Iterable[Secret],
    ) -> Session:
        """libldap's own connection by name, checked as in the module docstring.

        Raises:
            _LibldapConnectFailed: libldap could not connect (TCP or TLS).
            DirectoryError: the RootDSE read failed or the peer is not approved.
        """
        conn = ldap.initialize(str(url))
        try:
            self._configure(conn, settings, url)
            # Connects (TCP + TLS, bounded thanks to OPT_CONNECT_ASYNC) without credentials.
            msgid = conn.search_ext("", ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
            descriptor = conn.get_option(ldap.OPT_DESC)
        except ldap.LDAPError as exc:
            failure = classify(
                exc,
                phase="tls",
                endpoint=url.netloc,
                timeout=self.timeout,
                secrets=secrets,
                tls_reason=problem,
            )
        else:
            watch = _watch_socket(descriptor)
            if watch is not None:
                return self._finish_ldaps(conn, url, watch, msgid, approved, problem, secrets)
            failure = DirectoryError("tls_error", f"TLS negotiation with {url.netloc} failed")
        _unbind_quietly(conn)
        raise _LibldapConnectFailed(failure)

    def _finish_ldaps(
        self,
        conn: ldap.LDAPObject,
        url: LdapUrl,
        watch: socket.socket,
        msgid: int,
        approved: tuple[IPAddress, ...],
        problem: str | None,
        secrets: Iterable[Secret],
    ) -> Session:
        session = Session(conn, url=url, watch=watch, timeout=self.timeout)

        def read_root_dse() -> None:
            try:
                conn.result(msgid)
            except (ldap.SERVER_DOWN, ldap.CONNECT_ERROR, ldap.TIMEOUT):
                raise
            except ldap.LDAPError:
                pass  # a refused RootDSE read still proves that the TLS connection works

        try:
            session.run("tls", read_root_dse, secrets=secrets, diagnose=lambda: problem)
            peer = _peer_address(watch)
            if peer is None or peer not in {_canonical(a) for a in approved}:
                raise DirectoryError(
                    "blocked_address",
                    f"libldap reached {url.host} at {peer or 'an unknown address'}, "
                    "not at an approved address",
                )
        except BaseException:
            session.close()
            raise
        return session

    def _diagnose(
        self, settings: ServerSettings, url: LdapUrl, address: IPAddress, *, start_tls: bool
    ) -> str | None:
        """Why a TLS negotiation failed, found with a second, Python-side handshake."""
        try:
            result = probe_tls(
                address=str(address),
                port=url.port,
                server_hostname=url.host,
                ca_file=settings.ca_file,
                verify=settings.verify,
                start_tls=start_tls,
                timeout=self.timeout,
                endpoint=url.netloc,
            )
        except DirectoryError:
            return None
        return result.problem


class _LibldapConnectFailed(Exception):
    """libldap's connect to an `ldaps://` URL failed; `error` says how (classified)."""

    def __init__(self, error: DirectoryError) -> None:
        super().__init__(error.code)
        self.error = error


def _peer_address(sock: socket.socket) -> IPAddress | None:
    try:
        return _canonical(ipaddress.ip_address(sock.getpeername()[0]))
    except (OSError, ValueError):
        return None


def _watch_socket(descriptor: object) -> socket.socket | None:
    """A socket object on a duplicate of libldap's descriptor (for the watchdog)."""
    if not isinstance(descriptor, int) or descriptor < 0:
        return None
    try:
        return socket.socket(fileno=os.dup(descriptor))
    except OSError:
        return None


def _unbind_quietly(conn: ldap.LDAPObject) -> None:
    with contextlib.suppress(ldap.LDAPError):
        conn.unbind_ext_s()


def follow_referrals(
    session: Session,
    *,
    dn: str,
    operation: Callable[[ldap.LDAPObject, str], T],
    trust: ReferralTrust,
    reconnect: Callable[[LdapUrl], Session],
    secrets: Iterable[Secret] = (),
) -> T:
    """Run `operation(conn, dn)` on `session`; when the server answers with a referral,
    follow it by hand: `decide_referral` says whether and where (trusted host, no loop, at
    most 10 hops), `reconnect` opens and binds a session to that host with the current
    protocol and port, and the operation runs there with the referred DN.

    Raises:
        DirectoryError: `referral_refused`, or whatever the operation or reconnect raises.
    """
    visited = [(session.url.host, dn)]
    current, owned, target_dn = session, False, dn
    try:
        while True:
            outcome = current.attempt(
                functools.partial(operation, current.conn, target_dn), secrets=secrets
            )
            if not isinstance(outcome, Referral):
                return outcome
            target = decide_referral(
                outcome.url, current_dn=target_dn, trust=trust, visited=visited
            )
            visited.append((target.host, target.dn))
            following = reconnect(current.url.with_host(target.host))
            if owned:
                current.close()
            current, owned, target_dn = following, True, target.dn
    finally:
        if owned:
            current.close()


def redact_error(err: DirectoryError, secrets: Iterable[Secret]) -> DirectoryError:
    """A fresh copy of `err` with its message redacted (and no exception context)."""
    return DirectoryError(err.code, redact(err.message, *secrets))
