"""Statements of the hot paths, compiled once per dialect and run on the driver's cursor.

SQLAlchemy's per-execution machinery (events, execution contexts, parameter processing
through the compiled object, result objects) costs several times what SQLite or psycopg
spend on a short statement. A ``Prepared`` statement runs on the driver connection under a
SQLAlchemy ``Connection``, inside whatever transaction that connection is in, with the
same SQL SQLAlchemy would send and the same conversions: bind values go through their
column types' bind processors (``UTCDateTime`` stores UTC, SQLite's datetime format), and
result values through their result processors (JSON, booleans, aware datetimes).

Every parameter the SQL names must be given, or have a value in the statement itself
(``literal``): a column default that SQLAlchemy would compute at execution time is not
applied, so an INSERT lists every column it writes.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Insert, Table, bindparam, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

_MISSING = object()
Processor = Callable[[Any], Any]


@contextmanager
def _as_sqlalchemy_errors(dialect: Dialect, sql: str | None) -> Iterator[None]:
    """The driver's errors raised as SQLAlchemy's (``IntegrityError``, ``OperationalError``,
    ...), as ``Connection.execute`` raises them, so that callers catch one family; the
    parameters are never part of the message."""
    dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as error:
        raise DBAPIError.instance(
            sql, None, error, dbapi_error, hide_parameters=True, dialect=dialect
        ) from error


def execute(cursor: Any, dialect: Dialect, compiled: Compiled, params: Mapping[str, Any]) -> None:
    """Run ``compiled`` for ``params`` on a driver ``cursor`` of ``dialect``'s driver, its
    errors raised as SQLAlchemy's: what every ``Prepared`` run comes down to."""
    with _as_sqlalchemy_errors(dialect, compiled.sql):
        cursor.execute(compiled.sql, compiled.arguments(params))


def _execute_many(
    cursor: Any, dialect: Dialect, compiled: Compiled, rows: Sequence[Mapping[str, Any]]
) -> None:
    with _as_sqlalchemy_errors(dialect, compiled.sql):
        cursor.executemany(compiled.sql, [compiled.arguments(row) for row in rows])


class Compiled:
    """One statement compiled for one dialect: its SQL in the driver's parameter style,
    how to pass parameters, and how to convert a row."""

    def __init__(
        self,
        sql: str,
        positional: bool,
        binds: Sequence[tuple[str, Any, Processor | None]],
        fields: Sequence[str],
        processors: Sequence[Processor | None],
    ) -> None:
        self.sql = sql
        self._positional = positional
        self._binds = binds
        self._processors = processors
        # Rows read as tuples with the selected columns' names (as SQLAlchemy's rows do).
        self._row = namedtuple("Row", fields, rename=True) if fields else None

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect) -> Compiled:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        computed = [*compiled.insert_prefetch, *compiled.update_prefetch]
        if computed:
            unset = ", ".join(sorted(column.name for column in computed))
            raise ValueError(f"defaults computed at execution are not applied: set {unset}")
        names: Sequence[str] = (
            compiled.positiontup or ()
            if compiled.positional
            else tuple(dict.fromkeys(compiled.bind_names.values()))
        )
        processors = compiled._bind_processors
        binds = []
        for name in names:
            bind = compiled.binds[name]
            default = _MISSING if bind.required else bind.effective_value
            processor = processors.get(name)
            binds.append((name, default, processor if callable(processor) else None))
        columns = list(getattr(statement, "selected_columns", ()))
        results = [column.type._cached_result_processor(dialect, None) for column in columns]
        fields = [str(column.key) for column in columns]
        return cls(compiled.string, compiled.positional, tuple(binds), fields, results)

    def arguments(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters for ``params`` (values by bind parameter name)."""
        values = []
        for name, default, process in self._binds:
            value = params.get(name, default)
            if value is _MISSING:
                raise KeyError(f"no value for the bind parameter {name!r}")
            values.append(value if process is None else process(value))
        if self._positional:
            return tuple(values)
        return dict(zip((name for name, _, _ in self._binds), values, strict=True))

    def convert(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """A driver row with each value converted by its column type (a named tuple)."""
        values = [
            value if process is None else process(value)
            for value, process in zip(row, self._processors, strict=True)
        ]
        return tuple(values) if self._row is None else self._row(*values)


class Prepared:
    """A statement of a hot path (see the module): compiled once per dialect, run on the
    driver connection of a SQLAlchemy ``Connection``."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[tuple[str, str], Compiled] = {}

    def compiled(self, dialect: Dialect) -> Compiled:
        """The statement compiled for ``dialect`` and its parameter style (once)."""
        key = (dialect.name, dialect.paramstyle)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = Compiled.of(self._statement, dialect)
        return compiled

    @contextmanager
    def _cursor(self, conn: Connection, params: Mapping[str, Any]) -> Iterator[Any]:
        compiled = self.compiled(conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            execute(cursor, conn.dialect, compiled, params)
            yield cursor
        finally:
            cursor.close()

    def rowcount(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run it (an UPDATE, INSERT or DELETE); the number of rows it matched."""
        with self._cursor(conn, params) as cursor:
            return int(cursor.rowcount)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row (converted; a named tuple, typed ``Any`` as attribute access is by
        column name), or None."""
        with self._cursor(conn, params) as cursor:
            row = cursor.fetchone()
        return None if row is None else self.compiled(conn.dialect).convert(row)

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row (converted)."""
        with self._cursor(conn, params) as cursor:
            rows = cursor.fetchall()
        convert = self.compiled(conn.dialect).convert
        return [convert(row) for row in rows]

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per parameter set of ``rows``."""
        if not rows:
            return
        if len(rows) == 1:
            # One round trip either way, without psycopg's pipeline set-up for a batch.
            self.rowcount(conn, rows[0])
            return
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            _execute_many(cursor, conn.dialect, self.compiled(conn.dialect), rows)
        finally:
            cursor.close()


def insert_of(table: Table, columns: Sequence[str]) -> Insert:
    """An INSERT of exactly ``columns`` of ``table``, each from the bind parameter of its
    name (typed as its column): the others are left to the database (NULL, or the
    server's default), never to a Python-side default that ``Prepared`` would not apply."""
    return insert(table).values(
        {name: bindparam(name, type_=table.c[name].type) for name in columns}
    )


class Sent:
    """The answer to a statement sent in a ``batch``: read it once the block has ended."""

    def __init__(self, cursor: Any, compiled: Compiled) -> None:
        self._cursor = cursor
        self._compiled = compiled

    @property
    def rowcount(self) -> int:
        """The number of rows it matched (an UPDATE, INSERT or DELETE)."""
        return int(self._cursor.rowcount)

    def all(self) -> list[Any]:
        """Every row (converted, as ``Prepared.all``)."""
        try:
            return [self._compiled.convert(row) for row in self._cursor.fetchall()]
        finally:
            self._cursor.close()


class Batch:
    """Statements of one transaction that need not wait for each other's answers."""

    def __init__(self, conn: Connection) -> None:
        self._driver = conn.connection.dbapi_connection
        self._dialect = conn.dialect

    def send(self, statement: Prepared, params: Mapping[str, Any]) -> Sent:
        """Send ``statement``; its answer is read from the result after the block."""
        compiled = statement.compiled(self._dialect)
        cursor = self._driver.cursor()  # type: ignore[union-attr]
        execute(cursor, self._dialect, compiled, params)
        return Sent(cursor, compiled)

    def send_many(self, statement: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
        """Send ``statement`` once per parameter set of ``rows`` (nothing for none)."""
        if not rows:
            return
        cursor = self._driver.cursor()  # type: ignore[union-attr]
        _execute_many(cursor, self._dialect, statement.compiled(self._dialect), rows)


@contextmanager
def batch(conn: Connection) -> Iterator[Batch]:
    """A block whose statements (``Batch.send``) go out without waiting for each other.

    On PostgreSQL they travel in one psycopg pipeline: one round trip for all of them (and
    for the transaction's BEGIN when they are its first statements). Their answers, and
    any error, arrive when the block ends: read results after it, never inside, and run
    nothing else on the connection inside it. On SQLite (in process, no round trips) they
    run one by one as they are sent. Either way they are statements of the connection's
    transaction: an error rolls all of it back with the rest.
    """
    if conn.dialect.name == "postgresql":
        driver = conn.connection.dbapi_connection
        # The statements' errors arrive when the pipeline ends.
        with _as_sqlalchemy_errors(conn.dialect, None), driver.pipeline():  # type: ignore[union-attr]
            yield Batch(conn)
        return
    yield Batch(conn)
