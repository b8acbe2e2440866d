import gc
import weakref
from pathlib import Path

from ldapkeeper.db.per_database import PerDatabase
from ldapkeeper.db.session import Database


class Helper:
    def __init__(self, db: Database) -> None:
        self.db = weakref.ref(db)


def _database(tmp_path: Path, name: str) -> Database:
    return Database(f"sqlite:///{tmp_path / name}")


def test_one_helper_per_database(tmp_path: Path) -> None:
    registry = PerDatabase(Helper)
    db = _database(tmp_path, "a.db")
    assert registry(db) is registry(db)
    assert registry(db).db() is db


def test_each_database_has_its_own(tmp_path: Path) -> None:
    registry = PerDatabase(Helper)
    assert registry(_database(tmp_path, "a.db")) is not registry(_database(tmp_path, "b.db"))


def test_a_helper_goes_with_its_database(tmp_path: Path) -> None:
    registry = PerDatabase(Helper)
    db = _database(tmp_path, "a.db")
    helper = weakref.ref(registry(db))
    del db
    gc.collect()
    assert helper() is None
