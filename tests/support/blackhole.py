"""A TCP listener that accepts connections and never answers (for timeout tests)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.support.procs import free_port

HOST = "127.0.0.1"


class Blackhole:
    """Accepts TCP connections on 127.0.0.1 and holds them open without sending a byte."""

    def __init__(self) -> None:
        self.host = HOST
        self._listener = socket.create_server((HOST, 0), backlog=128)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="blackhole", daemon=True)
        self._thread.start()

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}:{self.port}"

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    @property
    def accepted(self) -> int:
        """How many connections were accepted so far."""
        with self._lock:
            return len(self._held)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()


def closed_port(host: str = HOST) -> int:
    """A port on `host` with nothing listening (connections are refused)."""
    return free_port(host)


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    """A listener on 127.0.0.1:<random> that accepts and never answers."""
    hole = Blackhole()
    yield hole
    hole.close()
