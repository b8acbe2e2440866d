"""Extra fixtures for the LDAP adapter's tests: faults a real server cannot be made to show.

- `starttls_staller`: answers the StartTLS request with success, then never sends a TLS
  byte (libldap's handshake over a handed-over socket would wait forever).
- `TcpRelay`: forwards a loopback address:port to another (to make the address the guard
  approved differ from the one libldap reaches, as DNS rebinding would).
- `add_referral`: a referral object on a test slapd (manageDSAit), so that real operations
  below it answer with a referral.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import ldap
import ldap.controls
import pytest

HOST = "127.0.0.1"
_START_TLS_OID = b"1.3.6.1.4.1.1466.20037"


def _start_tls_success(message_id: int) -> bytes:
    """An LDAP ExtendedResponse: success, responseName = the StartTLS OID."""
    body = b"\x0a\x01\x00\x04\x00\x04\x00" + b"\x8a" + bytes([len(_START_TLS_OID)]) + _START_TLS_OID
    extended = b"\x78" + bytes([len(body)]) + body
    message = b"\x02\x01" + bytes([message_id]) + extended
    return b"\x30" + bytes([len(message)]) + message


class _Listener:
    """A loopback listener whose accepted connections are handled by `handle` in threads."""

    def __init__(self, host: str = HOST, port: int = 0) -> None:
        self._server = socket.create_server((host, port), backlog=64)
        self._server.settimeout(0.05)
        self.host = host
        self.port: int = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def handle(self, conn: socket.socket) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _serve(self) -> None:
        while not self._stop.is_set() and self._accept_one():
            pass

    def _accept_one(self) -> bool:
        """Accept (or wait a moment for) one connection; False once the listener is closed."""
        try:
            conn, _ = self._server.accept()
        except TimeoutError:
            return True
        except OSError:
            return False
        with self._lock:
            self._held.append(conn)
        threading.Thread(target=self._handle_quietly, args=(conn,), daemon=True).start()
        return True

    def _handle_quietly(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.handle(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()


class StartTlsStaller(_Listener):
    """Says yes to StartTLS, then stays silent."""

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    def handle(self, conn: socket.socket) -> None:
        request = conn.recv(4096)
        if len(request) > 4 and request[0] == 0x30:
            conn.sendall(_start_tls_success(request[4]))
        self._stop.wait()


class TcpRelay(_Listener):
    """Forwards every connection on `host:port` to `target`."""

    def __init__(self, host: str, port: int, target: tuple[str, int]) -> None:
        self.target = target
        super().__init__(host, port)

    def handle(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(self.target, timeout=5)
        with self._lock:
            self._held.append(upstream)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
        pump(conn, upstream)


@pytest.fixture
def starttls_staller() -> Iterator[StartTlsStaller]:
    """A server on 127.0.0.1 that accepts StartTLS and never starts the handshake."""
    staller = StartTlsStaller()
    yield staller
    staller.close()


def add_referral(ldap_url: str, root_dn: str, root_password: str, dn: str, ref: str) -> None:
    """Add a referral object `dn` pointing at `ref` (as the rootDN, with manageDSAit)."""
    conn = ldap.initialize(ldap_url)
    try:
        conn.simple_bind_s(root_dn, root_password)
        rdn_value = dn.split(",", 1)[0].split("=", 1)[1]
        conn.add_ext_s(
            dn,
            [
                ("objectClass", [b"referral", b"extensibleObject"]),
                ("ou", [rdn_value.encode()]),
                ("ref", [ref.encode()]),
            ],
            serverctrls=[ldap.controls.ManageDSAITControl()],
        )
    finally:
        conn.unbind_s()
