"""``rotations.host_slots``: the worker's per-host limit on directory operations.

The directory behind ``SlottedDirectory`` is a recording stand-in: what is tested is how
many calls the slots let through at once, which no directory's answer depends on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from ldapkeeper.directory import BindCredentials
from ldapkeeper.rotations.host_slots import HostSlots, SlottedDirectory, directory_host

WAIT = 10.0


class _Meeting:
    """A verify_bind that returns once ``size`` calls are inside it at the same time, and
    records the most calls ever inside at once."""

    def __init__(self, size: int) -> None:
        self._barrier = threading.Barrier(size, timeout=WAIT)
        self._lock = threading.Lock()
        self._inside = 0
        self.most = 0

    def verify_bind(self, *, creds: BindCredentials, dn: str, password: SecretStr) -> bool:
        with self._lock:
            self._inside += 1
            self.most = max(self.most, self._inside)
        try:
            self._barrier.wait()
        finally:
            with self._lock:
                self._inside -= 1
        return True


def _creds(url: str) -> BindCredentials:
    return BindCredentials(
        provider="open-ldap", url=url, dn="cn=admin", password=SecretStr("unused")
    )


def _in_threads(calls: list[Callable[[], object]]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 — reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    return errors


def _verify(directory: SlottedDirectory, url: str, slots: HostSlots | None) -> Callable[[], object]:
    def call() -> object:
        if slots is None:
            return directory.verify_bind(creds=_creds(url), dn="uid=x", password=SecretStr("p"))
        with slots.applied():
            return directory.verify_bind(creds=_creds(url), dn="uid=x", password=SecretStr("p"))

    return call


def test_operations_against_one_host_take_at_most_the_limit_at_once() -> None:
    meeting = _Meeting(2)
    directory = SlottedDirectory(meeting)  # type: ignore[arg-type]
    slots = HostSlots(2)
    calls = [_verify(directory, "ldaps://dc.example.test:636", slots) for _ in range(6)]
    assert _in_threads(calls) == []
    assert meeting.most == 2


def test_a_host_at_its_limit_does_not_hold_back_another_host() -> None:
    directory = SlottedDirectory(_Meeting(2))  # type: ignore[arg-type]
    slots = HostSlots(1)
    calls = [_verify(directory, f"ldaps://dc{n}.example.test", slots) for n in (1, 2)]
    assert _in_threads(calls) == []


def test_operations_outside_applied_slots_are_not_limited() -> None:
    directory = SlottedDirectory(_Meeting(2))  # type: ignore[arg-type]
    calls = [_verify(directory, "ldaps://dc.example.test", None) for _ in range(2)]
    assert _in_threads(calls) == []


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("ldaps://DC1.Example.Test:636", "dc1.example.test"),
        (" ldap://127.0.0.1:389 ", "127.0.0.1"),
        ("ldaps://[::1]:636", "::1"),
        ("not a url", "not a url"),
    ],
)
def test_the_host_of_a_url_names_its_slots(url: str, host: str) -> None:
    assert directory_host(url) == host


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        HostSlots(0)
