import pytest
from sqlalchemy import bindparam, column, select, table
from sqlalchemy.exc import DBAPIError

from ldapkeeper.db.models import Organization
from ldapkeeper.db.reads import PreparedSelect, read_connection, read_session
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


def test_a_read_connection_holds_no_transaction_on_postgresql(runtime_postgres: Runtime) -> None:
    with read_connection(runtime_postgres.db) as conn:
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


def test_a_read_session_reads_through_the_orm(runtime_any_db: Runtime) -> None:
    with read_session(runtime_any_db.db) as session:
        org = session.get(Organization, runtime_any_db.org_id)
        assert org is not None


def test_a_read_session_refuses_to_write(runtime_any_db: Runtime) -> None:
    db = runtime_any_db.db
    with read_session(db) as session:
        session.add(Organization(name="never"))
        with pytest.raises(RuntimeError, match="does not write"):
            session.flush()
    with db.read() as session:
        assert session.scalar(select(Organization.id).where(Organization.name == "never")) is None


def test_a_read_session_holds_no_transaction_on_postgresql(runtime_postgres: Runtime) -> None:
    with read_session(runtime_postgres.db) as session:
        session.get(Organization, runtime_postgres.org_id)
        raw = session.connection().connection.dbapi_connection
        assert raw is not None
        assert raw.info.transaction_status.name == "IDLE"


_ORG = PreparedSelect(
    select(Organization.id, Organization.name, Organization.created_at).where(
        Organization.id == bindparam("org_id")
    )
)


def test_a_prepared_select_reads_a_row_as_sqlalchemy_converts_it(runtime_any_db: Runtime) -> None:
    db = runtime_any_db.db
    with db.read() as session:
        expected = session.execute(
            select(Organization.id, Organization.name, Organization.created_at).where(
                Organization.id == runtime_any_db.org_id
            )
        ).one()
    row = _ORG.first(db, {"org_id": runtime_any_db.org_id})
    assert row == tuple(expected)
    assert row is not None
    assert row[2].tzinfo is not None


def test_a_prepared_select_answers_none_without_a_row(runtime_any_db: Runtime) -> None:
    assert _ORG.first(runtime_any_db.db, {"org_id": "no-such-org"}) is None


def test_a_prepared_select_leaves_no_transaction_open_on_postgresql(
    runtime_postgres: Runtime,
) -> None:
    db = runtime_postgres.db
    _ORG.first(db, {"org_id": runtime_postgres.org_id})
    raw = db.engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        assert (driver.info.transaction_status.name, driver.autocommit) == ("IDLE", False)
    finally:
        raw.close()


def test_a_prepared_select_raises_sqlalchemys_error_without_the_parameters(
    runtime_any_db: Runtime,
) -> None:
    canary = "canary-parameter-77c1"
    missing = PreparedSelect(
        select(column("x")).select_from(table("no_such_table")).where(column("x") == bindparam("p"))
    )
    with pytest.raises(DBAPIError) as raised:
        missing.first(runtime_any_db.db, {"p": canary})
    assert "no_such_table" in str(raised.value)
    assert canary not in str(raised.value)
