"""The worker's per-directory-host limit: at most ``limit`` directory operations at once
against one host, from the rotations run inside ``HostSlots.applied``.

The limit is what keeps a burst of due rotations from flooding a directory, so it holds
each directory operation (a password reset, a verifying bind, a UPN look-up), not a whole
rotation: a rotation spends more than half its time on its database commits, and while it
does another can use the directory. A worker thus keeps ``limit`` operations running
against a host with more rotations in flight (its threads), and the host never sees more.

The engine makes every directory call through ``SlottedDirectory``; the worker applies its
``HostSlots`` to the thread that runs a rotation (a context variable). Calls outside any
``applied`` block (a rotate-now request, a connection check) are not limited here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from ldapkeeper.directory import BindCredentials, DirectoryClient


def directory_host(url: str) -> str:
    """The host a connection URL points at (lower-case), for the per-host limit."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        host = None
    return host or url.strip().lower()


class HostSlots:
    """``limit`` slots per directory host."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a per-host limit is at least 1")
        self.limit = limit
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def slot(self, url: str) -> threading.BoundedSemaphore:
        """The slots of the host of ``url``."""
        host = directory_host(url)
        with self._lock:
            found = self._slots.get(host)
            if found is None:
                found = self._slots[host] = threading.BoundedSemaphore(self.limit)
            return found

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Directory operations of this thread (its context) in the block take a slot."""
        token = _APPLIED.set(self)
        try:
            yield
        finally:
            _APPLIED.reset(token)


_APPLIED: ContextVar[HostSlots | None] = ContextVar("ldapkeeper_host_slots", default=None)


def _slot(creds: BindCredentials) -> AbstractContextManager[object]:
    slots = _APPLIED.get()
    return nullcontext() if slots is None else slots.slot(creds.url)


class SlottedDirectory:
    """A ``DirectoryClient`` whose operations take a slot of the applied ``HostSlots``."""

    def __init__(self, inner: DirectoryClient) -> None:
        self.inner = inner

    def check(self, *, creds: BindCredentials) -> float:
        with _slot(creds):
            return self.inner.check(creds=creds)

    def resolve_dn(self, *, creds: BindCredentials, name: str) -> str:
        with _slot(creds):
            return self.inner.resolve_dn(creds=creds, name=name)

    def reset_password(
        self, *, creds: BindCredentials, target_dn: str, new_password: SecretStr
    ) -> None:
        with _slot(creds):
            self.inner.reset_password(creds=creds, target_dn=target_dn, new_password=new_password)

    def change_own_password(
        self,
        *,
        creds: BindCredentials,
        dn: str,
        old_password: SecretStr,
        new_password: SecretStr,
    ) -> None:
        with _slot(creds):
            self.inner.change_own_password(
                creds=creds, dn=dn, old_password=old_password, new_password=new_password
            )

    def verify_bind(self, *, creds: BindCredentials, dn: str, password: SecretStr) -> bool:
        with _slot(creds):
            return self.inner.verify_bind(creds=creds, dn=dn, password=password)

    def normalize_dn(self, dn: str) -> str:
        return self.inner.normalize_dn(dn)

    def same_dn(self, a: str, b: str) -> bool:
        return self.inner.same_dn(a, b)
