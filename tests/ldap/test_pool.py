"""The bounded connection pool."""

from __future__ import annotations

import itertools
import threading

import pytest

from ldapkeeper.ldap.pool import ConnectionPool


class FakeConnection:
    """Stands in for a bound connection: only identity and closing matter here."""

    ids = itertools.count()

    def __init__(self) -> None:
        self.id = next(self.ids)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_pool(
    *,
    max_idle_per_key: int = 2,
    max_idle_total: int = 32,
    max_idle_seconds: float = 60.0,
    clock: Clock | None = None,
) -> ConnectionPool[tuple[str, int, str], FakeConnection]:
    return ConnectionPool(
        close=FakeConnection.close,
        max_idle_per_key=max_idle_per_key,
        max_idle_total=max_idle_total,
        max_idle_seconds=max_idle_seconds,
        clock=clock or Clock(),
    )


KEY = ("conn-1", 1, "bind")


def test_connection_is_reused_after_a_clean_lease() -> None:
    pool = make_pool()
    with pool.lease(KEY, FakeConnection) as first:
        pass
    with pool.lease(KEY, FakeConnection) as second:
        assert second is first


def test_connection_is_closed_and_dropped_when_the_block_raises() -> None:
    pool = make_pool()
    with pytest.raises(RuntimeError), pool.lease(KEY, FakeConnection) as conn:
        raise RuntimeError("operation failed")
    assert conn.closed
    assert pool.idle_count() == 0


def test_new_credentials_version_never_reuses_an_old_connection() -> None:
    pool = make_pool()
    with pool.lease(("conn-1", 1, "bind"), FakeConnection) as old:
        pass
    with pool.lease(("conn-1", 2, "bind"), FakeConnection) as new:
        assert new is not old


def test_idle_connections_per_key_are_bounded() -> None:
    pool = make_pool(max_idle_per_key=1)
    with pool.lease(KEY, FakeConnection) as a, pool.lease(KEY, FakeConnection) as b:
        pass
    assert pool.idle_count(KEY) == 1
    assert a.closed != b.closed


def test_total_idle_connections_are_bounded_oldest_first() -> None:
    pool = make_pool(max_idle_total=2)
    conns = []
    for i in range(3):
        with pool.lease((f"c{i}", 1, "bind"), FakeConnection) as conn:
            conns.append(conn)
    assert [c.closed for c in conns] == [True, False, False]
    assert pool.idle_count() == 2


def test_stale_idle_connection_is_closed_not_reused() -> None:
    clock = Clock()
    pool = make_pool(max_idle_seconds=30.0, clock=clock)
    with pool.lease(KEY, FakeConnection) as old:
        pass
    clock.now += 31
    with pool.lease(KEY, FakeConnection) as fresh:
        assert fresh is not old
    assert old.closed


def test_zero_idle_size_closes_every_returned_connection() -> None:
    pool = make_pool(max_idle_per_key=0)
    with pool.lease(KEY, FakeConnection) as conn:
        pass
    assert conn.closed


def test_evict_closes_matching_keys_only() -> None:
    pool = make_pool()
    with (
        pool.lease(("a", 1, "bind"), FakeConnection) as a,
        pool.lease(("b", 1, "bind"), FakeConnection) as b,
    ):
        pass
    assert pool.evict(lambda key: key[0] == "a") == 1
    assert a.closed
    assert not b.closed


def test_close_all_empties_the_pool() -> None:
    pool = make_pool()
    with pool.lease(KEY, FakeConnection) as conn:
        pass
    pool.close_all()
    assert conn.closed
    assert pool.idle_count() == 0


def test_a_failing_close_does_not_hide_the_callers_exception() -> None:
    def explode(conn: FakeConnection) -> None:
        raise OSError("close failed")

    pool: ConnectionPool[str, FakeConnection] = ConnectionPool(close=explode)
    with pytest.raises(ValueError, match="original"), pool.lease("k", FakeConnection):
        raise ValueError("original")


def test_concurrent_leases_never_share_a_connection() -> None:
    pool = make_pool(max_idle_per_key=4)
    in_use: set[int] = set()
    lock = threading.Lock()
    shared = threading.Event()

    def worker() -> None:
        for _ in range(200):
            with pool.lease(KEY, FakeConnection) as conn:
                with lock:
                    if conn.id in in_use:
                        shared.set()
                    in_use.add(conn.id)
                with lock:
                    in_use.discard(conn.id)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not shared.is_set()
    assert pool.idle_count(KEY) <= 4
