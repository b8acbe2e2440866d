"""TLS for directory connections: CA files, libldap options and a bounded handshake probe.

libldap (GnuTLS build) does not bound an `ldaps://` handshake against a server that
accepts and never answers: it spins at 100 % CPU forever. So before libldap connects to an
`ldaps://` URL, a Python handshake with a socket deadline checks that the server answers.
The same probe, verifying, tells *why* a handshake failed (libldap often says nothing).
A clean probe is remembered for a few seconds per endpoint (`ProbeCache`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ldap

from ldapkeeper.directory import DirectoryError
from ldapkeeper.ldap.errors import classify_socket_error

_START_TLS_OID = b"1.3.6.1.4.1.1466.20037"


class CaStore:
    """Writes each CA bundle once to `<directory>/<sha256>.pem` (python-ldap has no
    in-memory CA option) and returns its path. Directory mode 0700, files 0600."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._known: set[Path] = set()
        self._lock = threading.Lock()

    def file_for(self, pem: str) -> Path:
        """The path of a file holding `pem`, written atomically the first time."""
        text = pem.strip() + "\n"
        path = self.directory / f"{hashlib.sha256(text.encode()).hexdigest()}.pem"
        with self._lock:
            if path in self._known or path.exists():
                self._known.add(path)
                return path
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(partial, path)
            self._known.add(path)
            return path


def system_ca_file() -> Path | None:
    """The system CA bundle, if one is found (used when a connection names no CA)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def apply_tls_options(conn: ldap.LDAPObject, *, ca_file: Path | None, verify: bool) -> None:
    """Set this connection's TLS options (never the global ones) and a fresh TLS context.

    `OPT_X_TLS_NEWCTX` must come last: it builds the context from the options set before.
    """
    if verify:
        if ca_file is not None:
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(ca_file))
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    else:
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_NEVER)
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a handshake probe learned. `problem` is None when Python's own check passed
    (or was not asked for); otherwise it says why the handshake or verification failed."""

    problem: str | None


#: An endpoint as the probe saw it: (address, port, server name, CA file, verify).
ProbeKey = tuple[str, int, str, Path | None, bool]


class ProbeCache:
    """Endpoints whose handshake probe passed cleanly less than `ttl_seconds` ago.

    A connection to such an endpoint skips the probe: the server answered a moment ago.
    If it has turned silent since, libldap's own connect (`OPT_CONNECT_ASYNC`, bounded by
    `OPT_NETWORK_TIMEOUT`) still ends within the deadline; the caller forgets the endpoint
    after any failure, so the next connection probes again. Thread-safe; at most
    `max_entries` endpoints (the oldest go first). Holds no secret.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._passed: OrderedDict[ProbeKey, float] = OrderedDict()

    def fresh(self, key: ProbeKey) -> bool:
        """True when a clean probe of `key` is younger than the time to live."""
        with self._lock:
            passed = self._passed.get(key)
            if passed is None:
                return False
            if self._clock() - passed < self._ttl:
                return True
            del self._passed[key]
            return False

    def remember(self, key: ProbeKey) -> None:
        """Record a clean probe of `key` now."""
        if self._ttl <= 0 or self._max <= 0:
            return
        with self._lock:
            self._passed.pop(key, None)
            self._passed[key] = self._clock()
            while len(self._passed) > self._max:
                self._passed.popitem(last=False)

    def forget(self, key: ProbeKey) -> None:
        """Drop `key` (a connection to it failed): the next connection probes again."""
        with self._lock:
            self._passed.pop(key, None)


@functools.lru_cache(maxsize=64)
def _probe_context(*, verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    # Cached: loading the system bundle costs ~40 ms; CA files never change (named by hash).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The probe judges liveness and explains failures; libldap makes the security decision,
    # so the probe must not refuse an old server that libldap would accept.
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):
        context.set_ciphers("ALL:@SECLEVEL=0")
    if verify:
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file))
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect_tcp(address: str, port: int, *, timeout: float, endpoint: str) -> socket.socket:
    """A TCP connection to `address:port` within `timeout` seconds (blocking afterwards).

    Raises:
        DirectoryError: `connection_refused` or `timeout`.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As libldap does for its own sockets: without it, Nagle's algorithm and delayed
        # ACKs add ~40 ms to every TLS handshake over a socket handed to libldap.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        sock.connect((address, port))
        sock.settimeout(None)
    except OSError as exc:
        sock.close()
        failure = classify_socket_error(exc, endpoint=endpoint, timeout=timeout)
    else:
        return sock
    raise failure


def _start_tls_request() -> bytes:
    request_name = b"\x80" + bytes([len(_START_TLS_OID)]) + _START_TLS_OID
    extended = b"\x77" + bytes([len(request_name)]) + request_name
    message = b"\x02\x01\x01" + extended
    return b"\x30" + bytes([len(message)]) + message


def _read_ber_message(sock: socket.socket) -> bytes:
    """Read one BER-encoded LDAPMessage (enough for an ExtendedResponse)."""
    header = _recv_exactly(sock, 2)
    length = header[1]
    if length & 0x80:
        length = int.from_bytes(_recv_exactly(sock, length & 0x7F), "big")
    if length > 65536:
        raise ssl.SSLError("oversized StartTLS response")
    return _recv_exactly(sock, length)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        data += chunk
    return data


def _start_tls_result(body: bytes) -> int:
    """The resultCode of an ExtendedResponse body (after the LDAPMessage header)."""
    index = body.find(b"\x0a\x01", 3)  # ENUMERATED resultCode, one byte
    if body[:2] != b"\x02\x01" or index < 0:
        raise ssl.SSLError("malformed StartTLS response")
    return body[index + 2]


def probe_tls(
    *,
    address: str,
    port: int,
    server_hostname: str,
    ca_file: Path | None,
    verify: bool,
    start_tls: bool,
    timeout: float,
    endpoint: str,
) -> ProbeResult:
    """Connect to `address:port` and complete a TLS handshake within `timeout` seconds.

    With `start_tls`, a StartTLS extended request comes first (used to explain a failed
    StartTLS). With `verify`, the certificate is checked against `ca_file` (or the system
    store) and `server_hostname`; a failed check is returned, not raised.

    Raises:
        DirectoryError: `timeout` or `connection_refused` when the server does not answer.
    """
    sock = connect_tcp(address, port, timeout=timeout, endpoint=endpoint)
    problem: str | None = None
    try:
        sock.settimeout(timeout)
        if start_tls:
            sock.sendall(_start_tls_request())
            result = _start_tls_result(_read_ber_message(sock))
            if result != 0:
                return ProbeResult(f"the server refused StartTLS (result {result})")
        context = _probe_context(verify=verify, ca_file=ca_file)
        hostname = server_hostname if verify else None
        with context.wrap_socket(
            sock, server_hostname=hostname, do_handshake_on_connect=False
        ) as tls:
            tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        problem = f"certificate verification failed: {exc.verify_message}"
    except TimeoutError:
        failure = DirectoryError(
            "timeout", f"No TLS handshake with {endpoint} within {timeout:g} s"
        )
        sock.close()
        raise failure from None
    except ssl.SSLError as exc:
        problem = f"TLS handshake failed: {exc.reason or exc}"
    except OSError as exc:
        problem = f"TLS handshake failed: {exc.strerror or type(exc).__name__}"
    finally:
        sock.close()
    return ProbeResult(problem)
