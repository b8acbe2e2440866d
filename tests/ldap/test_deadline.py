"""The watchdog that bounds libldap calls."""

from __future__ import annotations

import socket
import time

from ldapkeeper.ldap.deadline import Watchdog


def test_watchdog_shuts_down_a_socket_whose_deadline_passed() -> None:
    left, right = socket.socketpair()
    with left, right:
        watchdog = Watchdog()
        started = time.monotonic()
        with watchdog.deadline(left, 0.2) as alarm:
            data = left.recv(1)  # blocks until the watchdog shuts the socket down
        assert data == b""
        assert alarm.fired
        assert 0.15 < time.monotonic() - started < 2


def test_cancelled_deadline_never_fires() -> None:
    left, right = socket.socketpair()
    with left, right:
        watchdog = Watchdog()
        with watchdog.deadline(left, 0.1) as alarm:
            pass
        time.sleep(0.3)
        right.sendall(b"x")
        assert left.recv(1) == b"x"
        assert not alarm.fired


def test_earlier_deadline_fires_first() -> None:
    a, a_peer = socket.socketpair()
    b, b_peer = socket.socketpair()
    with a, a_peer, b, b_peer:
        watchdog = Watchdog()
        with watchdog.deadline(a, 5) as late, watchdog.deadline(b, 0.1) as early:
            assert b.recv(1) == b""
            assert early.fired
            assert not late.fired


def test_later_deadline_armed_while_the_watchdog_sleeps_still_fires() -> None:
    a, a_peer = socket.socketpair()
    b, b_peer = socket.socketpair()
    with a, a_peer, b, b_peer:
        watchdog = Watchdog()
        with watchdog.deadline(a, 0.2) as first:
            pass  # cancelled: the watchdog still sleeps until its deadline
        started = time.monotonic()
        with watchdog.deadline(b, 0.4) as second:
            assert b.recv(1) == b""
        assert second.fired
        assert not first.fired
        assert 0.3 < time.monotonic() - started < 2
