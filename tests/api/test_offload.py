import asyncio
import contextvars
import threading

from sqlalchemy import select

from ldapkeeper.api.offload import run_read
from ldapkeeper.db.models import Organization
from ldapkeeper.db.reads import PreparedSelect
from ldapkeeper.runtime import Runtime

_ORG_IDS = PreparedSelect(select(Organization.id))
_REQUEST = contextvars.ContextVar[str]("request")


def _read(runtime: Runtime) -> tuple[str, object]:
    row = _ORG_IDS.first(runtime.db, {})
    return threading.current_thread().name, None if row is None else row[0]


async def _run(runtime: Runtime) -> tuple[str, str, object]:
    loop_thread = threading.current_thread().name
    thread, org_id = await run_read(runtime.db, _read, runtime)
    return loop_thread, thread, org_id


def test_a_read_runs_on_the_loop_on_sqlite_and_on_read_threads_on_postgresql(
    runtime_any_db: Runtime,
) -> None:
    loop_thread, thread, org_id = asyncio.run(_run(runtime_any_db))
    if runtime_any_db.db.is_sqlite:
        assert thread == loop_thread
    else:
        assert thread.startswith("ldapkeeper-read")
    assert org_id == runtime_any_db.org_id


def test_a_read_sees_the_callers_context_variables(runtime_any_db: Runtime) -> None:
    async def main() -> str:
        _REQUEST.set("req-1")
        return await run_read(runtime_any_db.db, _REQUEST.get)

    assert asyncio.run(main()) == "req-1"


def test_a_reads_exception_reaches_the_route(runtime_any_db: Runtime) -> None:
    def fail() -> None:
        raise LookupError("not there")

    async def main() -> str:
        try:
            await run_read(runtime_any_db.db, fail)
        except LookupError as exc:
            return str(exc)
        return "no exception"

    assert asyncio.run(main()) == "not there"
