"""`LdapDirectory`: the python-ldap implementation of the `DirectoryClient` port."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import ldap
from pydantic import SecretStr

from ldapkeeper.directory import BindCredentials, DirectoryError, require_secure_transport
from ldapkeeper.ldap import names, passwords
from ldapkeeper.ldap.connection import (
    Connector,
    ServerSettings,
    Session,
    follow_referrals,
    redact_error,
)
from ldapkeeper.ldap.guard import NetworkPolicy, Resolver, system_resolver
from ldapkeeper.ldap.pool import ConnectionPool
from ldapkeeper.ldap.redaction import Secret
from ldapkeeper.ldap.referrals import ReferralTrust
from ldapkeeper.ldap.tls import CaStore
from ldapkeeper.ldap.urls import LdapUrl

T = TypeVar("T")

#: A pooled connection's identity: server settings, bind DN and a keyed hash of the
#: password (never the password itself). Nothing bound as one principal is handed to
#: another, and a changed password never reuses a connection bound with the old one.
PoolKey = tuple[ServerSettings, str, bytes]

POOL_IDLE_PER_KEY = 8
POOL_IDLE_TOTAL = 64
POOL_IDLE_SECONDS = 60.0
SETTINGS_CACHE_SIZE = 256


class LdapDirectory:
    """Binds, resolves names and changes passwords on LDAP / Active Directory servers.

    Administrative work bound with a connection's own credentials (password resets, UPN
    look-ups) reuses bound connections from a small pool: one is returned only after a
    clean operation and closed after any error. Verification binds reuse connections that
    are anonymous between uses. Checks and a bind account changing its own password open
    their own connection and close it before returning. Every network step is bounded by
    `timeout_seconds`. Methods raise `DirectoryError` only, with messages from which the
    passwords involved are redacted.
    """

    def __init__(
        self,
        *,
        ca_dir: Path,
        network_policy: NetworkPolicy | None = None,
        timeout_seconds: float = 15.0,
        referral_hosts: Iterable[str] = (),
        resolver: Resolver | None = None,
        pool_idle_per_key: int = POOL_IDLE_PER_KEY,
        pool_idle_seconds: float = POOL_IDLE_SECONDS,
    ) -> None:
        """`ca_dir`: where CA bundles are written (`<sha256>.pem`). `network_policy`:
        the SSRF guard's exceptions (default: no internal address). `referral_hosts`:
        extra hosts referrals may lead to. `resolver`: replaces DNS (tests).
        `pool_idle_per_key` (0 turns pooling off) and `pool_idle_seconds`: how many bound
        admin connections are kept per identity, and for how long."""
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.timeout_seconds = timeout_seconds
        self.referral_hosts = tuple(referral_hosts)
        self._connector = Connector(
            timeout=timeout_seconds,
            policy=network_policy or NetworkPolicy(),
            resolver=resolver or system_resolver(timeout_seconds),
            ca_store=CaStore(ca_dir),
        )
        self._pool: ConnectionPool[PoolKey, Session] = ConnectionPool(
            close=Session.close,
            max_idle_per_key=pool_idle_per_key,
            max_idle_total=max(pool_idle_per_key, POOL_IDLE_TOTAL),
            max_idle_seconds=pool_idle_seconds,
        )
        # Pool keys carry an HMAC of the password under this process-local key.
        self._pool_secret = os.urandom(32)
        self._settings_cache: dict[object, ServerSettings] = {}

    def close(self) -> None:
        """Close every idle pooled connection."""
        self._pool.close_all()

    # -- the port -------------------------------------------------------------------------

    def check(self, *, creds: BindCredentials) -> float:
        """Bind with `creds` on a new connection; return the latency (connect + bind) in ms.

        Raises:
            DirectoryError: `invalid_credentials`, `tls_error`, `connection_refused`,
                `timeout`, `dns_error`, `blocked_address`, ...
        """
        started = time.perf_counter()

        def bind() -> None:
            with self._bound(creds, creds.dn, creds.password, (creds.password,)):
                pass

        self._guarded((creds.password,), bind)
        return (time.perf_counter() - started) * 1000.0

    def resolve_dn(self, *, creds: BindCredentials, name: str) -> str:
        """A DN (normalized) for `name`: a DN as given, or the entry a UPN belongs to.

        A UPN is looked up (bound with `creds`) by a subtree search for
        `(userPrincipalName=<escaped>)` under the RootDSE's `defaultNamingContext`.

        Raises:
            DirectoryError: `invalid_input` (neither DN nor UPN), `ambiguous_target` (no or
                several entries), `unsupported` (no `defaultNamingContext`), or a bind failure.
        """
        secrets: tuple[Secret, ...] = (creds.password,)

        def resolve() -> str:
            if names.is_upn(name):
                found = self._as_admin(
                    creds,
                    secrets,
                    lambda session: self._find_upn(
                        session, creds, name, (creds.dn, creds.password), secrets
                    ),
                )
                return names.normalize_dn(found)
            return names.normalize_dn(name)

        return self._guarded(secrets, resolve)

    def reset_password(
        self, *, creds: BindCredentials, target_dn: str, new_password: SecretStr
    ) -> None:
        """Bind with `creds` and set `target_dn`'s password (AD: `replace unicodePwd`;
        OpenLDAP: RFC 3062 Password Modify without the old password).

        Raises:
            DirectoryError: `insecure_transport` (plain `ldap://`), `password_rejected`,
                `insufficient_access`, `no_such_object`, `unsupported`, `referral_refused`, or
                a bind failure.
        """
        require_secure_transport(creds)
        secrets: tuple[Secret, ...] = (creds.password, new_password)

        def reset() -> None:
            target = names.normalize_dn(target_dn)

            def operation(conn: ldap.LDAPObject, dn: str) -> None:
                passwords.reset_password(
                    conn, provider=creds.provider, target_dn=dn, new_password=new_password
                )

            # Sent again on a new connection when a pooled one turns out dropped: setting
            # the same password twice is harmless (ppolicy's "unchanged" counts as done).
            self._as_admin(
                creds,
                secrets,
                lambda session: self._follow_referrals(
                    session, creds, creds.dn, creds.password, target, operation, secrets
                ),
            )

        self._guarded(secrets, reset)

    def change_own_password(
        self,
        *,
        creds: BindCredentials,
        dn: str,
        old_password: SecretStr,
        new_password: SecretStr,
    ) -> None:
        """Bind as `dn` with `old_password` (server settings from `creds`) and change the
        password to `new_password` (AD: one modify `delete` old + `add` new; OpenLDAP:
        Password Modify with the old password). `dn` may be a UPN with Active Directory.

        Raises:
            DirectoryError: `insecure_transport`, `invalid_credentials` (the old password is
                wrong), `password_rejected`, `unchanged` (ppolicy: already this value),
                `insufficient_access`, `unsupported`, `referral_refused`, ...
        """
        require_secure_transport(creds)
        secrets: tuple[Secret, ...] = (old_password, new_password, creds.password)

        def change() -> None:
            with self._bound(creds, dn, old_password, secrets) as session:
                entry_dn = (
                    self._find_upn(session, creds, dn, (dn, old_password), secrets)
                    if names.is_upn(dn)
                    else names.normalize_dn(dn)
                )

                def operation(conn: ldap.LDAPObject, target: str) -> None:
                    passwords.change_own_password(
                        conn,
                        provider=creds.provider,
                        dn=target,
                        old_password=old_password,
                        new_password=new_password,
                    )

                self._follow_referrals(
                    session, creds, dn, old_password, entry_dn, operation, secrets
                )

        self._guarded(secrets, change)

    def verify_bind(self, *, creds: BindCredentials, dn: str, password: SecretStr) -> bool:
        """True when a simple bind as `dn` with `password` succeeds, False when the
        directory says the password is wrong (49; AD `52e`).

        Raises:
            DirectoryError: anything else, including AD account states (locked, disabled,
                expired, must change) that say nothing reliable about the password.
        """
        secrets: tuple[Secret, ...] = (password, creds.password)

        def probe() -> bool:
            settings = self._settings(creds)

            # Verification connections are pooled per server, unbound: each use binds as
            # its target and goes back to anonymous before the connection is returned, so
            # it never carries one principal's identity into another use. Anything but a
            # clean success (a wrong password, a refused anonymous bind) closes it.
            def verify(session: Session) -> bool:
                if not session.try_bind(dn, password):
                    raise _Discard(verified=False)
                try:
                    session.run("bind", lambda: session.conn.simple_bind_s("", ""))
                except DirectoryError:
                    raise _Discard(verified=True) from None
                return True

            try:
                return self._pooled(
                    (settings, "", b""), lambda: self._connector.open_any(settings, secrets), verify
                )
            except _Discard as discarded:
                return discarded.verified

        return self._guarded(secrets, probe)

    def normalize_dn(self, dn: str) -> str:
        """See `names.normalize_dn`. Raises DirectoryError `invalid_input` for a non-DN."""
        return names.normalize_dn(dn)

    def same_dn(self, a: str, b: str) -> bool:
        """See `names.same_dn`. Raises DirectoryError `invalid_input` for a non-DN."""
        return names.same_dn(a, b)

    # -- internals ------------------------------------------------------------------------

    def _settings(self, creds: BindCredentials) -> ServerSettings:
        """The parsed server settings of `creds` (remembered: a rotation needs them thrice)."""
        key = (
            creds.provider,
            creds.urls,
            creds.start_tls,
            creds.ssl_reject_unauthorized,
            creds.ssl_certificate,
        )
        settings = self._settings_cache.get(key)
        if settings is None:
            settings = self._connector.settings_for(creds)
            if len(self._settings_cache) >= SETTINGS_CACHE_SIZE:
                self._settings_cache.clear()
            self._settings_cache[key] = settings
        return settings

    @staticmethod
    def _guarded(secrets: Iterable[Secret], action: Callable[[], T]) -> T:
        """Run `action`; re-raise its DirectoryError redacted, detached from any context."""
        try:
            return action()
        except DirectoryError as err:
            failure = redact_error(err, secrets)
        raise failure

    def _as_admin(
        self, creds: BindCredentials, secrets: Iterable[Secret], use: Callable[[Session], T]
    ) -> T:
        """`use(session)` on a connection bound with `creds`, pooled (see `_pooled`)."""
        settings = self._settings(creds)
        digest = hmac.new(
            self._pool_secret, creds.password.get_secret_value().encode(), hashlib.sha256
        ).digest()

        def create() -> Session:
            session = self._connector.open_any(settings, secrets)
            try:
                session.bind(creds.dn, creds.password)
            except BaseException:
                session.close()
                raise
            return session

        return self._pooled((settings, creds.dn, digest), create, use)

    def _pooled(
        self, key: PoolKey, create: Callable[[], Session], use: Callable[[Session], T]
    ) -> T:
        """`use(session)` on an idle pooled connection of `key`, or on a new one.

        The connection goes back to the pool after a clean `use` and is closed after any
        exception (its state is unknown). One idle for a while is checked with a RootDSE
        read first. When a reused connection fails as dropped (`connection_refused`: the
        server closed it while it sat in the pool), `use` runs once more on a new one.
        """
        created = False

        def make() -> Session:
            nonlocal created
            created = True
            return create()

        try:
            with self._pool.lease(key, make, _answers) as session:
                return use(session)
        except DirectoryError as err:
            if created or err.code != "connection_refused":
                raise
        with self._pool.lease(key, create, reuse=False) as session:
            return use(session)

    @contextmanager
    def _bound(
        self, creds: BindCredentials, dn: str, password: Secret, secrets: Iterable[Secret]
    ) -> Iterator[Session]:
        session = self._connector.open_any(self._settings(creds), secrets)
        try:
            session.bind(dn, password)
            yield session
        finally:
            session.close()

    def _find_upn(
        self,
        session: Session,
        creds: BindCredentials,
        upn: str,
        identity: tuple[str, Secret],
        secrets: Iterable[Secret],
    ) -> str:
        """The DN of the one entry whose userPrincipalName is `upn` (`session` is bound as
        `identity`, which is used again if a referral leads elsewhere)."""
        root = session.run(
            "operation",
            lambda: session.conn.search_ext_s(
                "", ldap.SCOPE_BASE, "(objectClass=*)", ["defaultNamingContext"]
            ),
            secrets=secrets,
        )
        base = _first_value(root, "defaultNamingContext")
        if not base:
            raise DirectoryError(
                "unsupported",
                "The directory has no defaultNamingContext: UPNs need Active Directory",
            )
        found = self._search_one_attribute(
            session, creds, identity, base, names.equality_filter("userPrincipalName", upn), secrets
        )
        local, _, domain = upn.rpartition("@")
        if found == [] and domain.lower() == names.dn_domain(base):
            # AD also accepts the implicit UPN sAMAccountName@<the domain's DNS name> (the
            # built-in Administrator has no userPrincipalName): an explicit UPN wins.
            found = self._search_one_attribute(
                session,
                creds,
                identity,
                base,
                names.equality_filter("sAMAccountName", local),
                secrets,
            )
        if found is None or len(found) > 1:
            raise DirectoryError("ambiguous_target", f"More than one entry has the UPN {upn}")
        if not found:
            raise DirectoryError("ambiguous_target", f"No entry has the UPN {upn}")
        return found[0]

    def _search_one_attribute(
        self,
        session: Session,
        creds: BindCredentials,
        identity: tuple[str, Secret],
        base: str,
        query: str,
        secrets: Iterable[Secret],
    ) -> list[str] | None:
        """DNs of the entries under `base` matching `query` (None: more than one)."""

        def search(conn: ldap.LDAPObject, search_base: str) -> list[str] | None:
            try:
                entries = conn.search_ext_s(
                    search_base, ldap.SCOPE_SUBTREE, query, ["1.1"], sizelimit=2
                )
            except ldap.SIZELIMIT_EXCEEDED:
                return None
            # AD also returns search references (DN None) to other partitions: skipped.
            return [dn for dn, _ in entries if dn is not None]

        return self._follow_referrals(session, creds, *identity, base, search, secrets)

    def _follow_referrals(
        self,
        session: Session,
        creds: BindCredentials,
        bind_dn: str,
        bind_password: Secret,
        dn: str,
        operation: Callable[[ldap.LDAPObject, str], T],
        secrets: Iterable[Secret],
    ) -> T:
        """Run `operation(conn, dn)`, following referrals as `bind_dn` (see
        `connection.follow_referrals`)."""
        settings = self._settings(creds)

        def reconnect(url: LdapUrl) -> Session:
            following = self._connector.open(settings, url, secrets)
            try:
                following.bind(bind_dn, bind_password)
            except BaseException:
                following.close()
                raise
            return following

        trust = ReferralTrust.build(
            urls=creds.urls, bind_name=bind_dn, referral_hosts=self.referral_hosts
        )
        return follow_referrals(
            session, dn=dn, operation=operation, trust=trust, reconnect=reconnect, secrets=secrets
        )


class _Discard(Exception):
    """Ends a pooled verification early so that its connection is closed, not reused."""

    def __init__(self, *, verified: bool) -> None:
        super().__init__()
        self.verified = verified


def _answers(session: Session) -> bool:
    """True when the server still answers on `session` (a RootDSE read); raises if not."""
    session.run(
        "operation",
        lambda: session.conn.search_ext_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"]),
    )
    return True


def _first_value(entries: list[tuple[str | None, object]], attribute: str) -> str | None:
    for dn, attributes in entries:
        if dn is None or not isinstance(attributes, dict):
            continue
        for key, values in attributes.items():
            if str(key).lower() == attribute.lower() and values:
                first = values[0]
                return first.decode() if isinstance(first, bytes) else str(first)
    return None
