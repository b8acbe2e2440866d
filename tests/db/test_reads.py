import pytest
from sqlalchemy import select

from ldapkeeper.db.models import Organization
from ldapkeeper.db.reads import read_connection
from ldapkeeper.runtime import Runtime


class Boom(Exception):
    pass


def _failing_write(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        session.add(Organization(name="never"))
        session.flush()
        raise Boom


def test_a_read_connection_sees_what_is_committed(runtime_any_db: Runtime) -> None:
    with read_connection(runtime_any_db.db) as conn:
        names = list(conn.execute(select(Organization.id)).scalars())
    assert names == [runtime_any_db.org_id]


def test_a_read_connection_holds_no_transaction_on_postgresql(runtime_any_db: Runtime) -> None:
    if runtime_any_db.db.is_sqlite:
        pytest.skip("SQLite reads begin a deferred transaction, as every connection there")
    with read_connection(runtime_any_db.db) as conn:
        conn.execute(select(Organization.id)).all()
        assert conn.connection.dbapi_connection is not None
        status = conn.connection.dbapi_connection.info.transaction_status
    assert status.name == "IDLE"


def test_writes_after_a_read_connection_still_roll_back(runtime_any_db: Runtime) -> None:
    db = runtime_any_db.db
    for _ in range(3):  # the same pooled connections serve both
        with read_connection(db) as conn:
            conn.execute(select(Organization.id)).all()
    with pytest.raises(Boom):
        _failing_write(runtime_any_db)
    with db.read() as session:
        assert session.scalar(select(Organization.id).where(Organization.name == "never")) is None
