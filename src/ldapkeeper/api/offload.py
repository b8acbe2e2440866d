"""Where an async route runs its short database reads.

A sync route runs in Starlette's threadpool: with many requests at once, as many threads
take turns at the interpreter lock with the event loop, and those hand-offs cost more CPU
than a short read itself (measured on the secret read: 1.55 ms of server CPU per request
with 8 clients, against 0.66 ms with the read run on the event loop).

``run_read`` runs a read of a few statements for an async route:

* SQLite: on the event loop, inline. The database is a local file and a read is one or two
  indexed statements on a pooled connection (tens of microseconds; WAL readers never wait
  for the writer), less than a hand-off to a thread would cost. A miss of the access
  cache or of a data key reads a little more, on the loop as well; a read whose audit
  event cannot be queued (``audit.queue`` past its bound) writes it there, waiting for the
  process's own SQLite writer.
* PostgreSQL: a statement is a network round trip, which must not stall the loop; reads run
  on a small executor of their own (``READ_THREADS`` threads), so that a few round trips
  overlap without a crowd of threads contending for the interpreter lock. The secret
  read's usual case (caller, project, role and data key cached: one statement) does not
  come here at all: it runs on the loop on an asyncio connection (``db.async_reads``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from ldapkeeper.db.session import Database

P = ParamSpec("P")
T = TypeVar("T")

#: Threads that run PostgreSQL reads for async routes.
READ_THREADS = 4

_executor = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="ldapkeeper-read")


async def run_read(db: Database, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``, a short read on ``db``, run as the module docstring says."""
    if db.is_sqlite:
        return fn(*args, **kwargs)
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_executor, call)
