"""Process-wide helpers that belong to one database: one per ``Database``, made on first
use, dropped with it (a test's database does not keep its helpers alive, nor they it)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from ldapkeeper.db.session import Database

T = TypeVar("T")


class PerDatabase(Generic[T]):
    """``registry(db)``: the one ``factory(db)`` of this process for ``db``."""

    def __init__(self, factory: Callable[[Database], T]) -> None:
        self._factory = factory
        self._made: weakref.WeakKeyDictionary[Database, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, db: Database) -> T:
        made = self._made.get(db)
        if made is None:
            with self._lock:
                made = self._made.get(db)
                if made is None:
                    made = self._made[db] = self._factory(db)
        return made
