"""The composition root: settings → runtime (database, keys, tokens) → FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ldapkeeper.api.errors import install_error_handlers
from ldapkeeper.api.middleware import install_middleware
from ldapkeeper.api.openapi import install_openapi
from ldapkeeper.api.routers import (
    audit,
    auth,
    connections,
    folders,
    identities,
    projects,
    rotations,
    secrets,
    status,
)
from ldapkeeper.audit.queue import audit_queue
from ldapkeeper.logs import configure_logging
from ldapkeeper.runtime import Runtime, build_runtime
from ldapkeeper.settings import Settings
from ldapkeeper.ui import routes as ui_routes


def create_app(runtime: Runtime) -> FastAPI:
    """The HTTP application over an assembled runtime.

    With ``run_worker`` the rotation worker runs in this process for the app's lifetime
    (the SQLite default: server and worker in one process).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = runtime.worker() if runtime.settings.run_worker else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            # Write the read events still queued (audit.queue) before the process ends.
            audit_queue(runtime.db).close()

    app = FastAPI(
        lifespan=lifespan,
        title="ldapkeeper",
        version="0.1.0",
        description="Self-hosted secrets service that rotates LDAP and Active Directory passwords",
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    install_middleware(app, max_body_bytes=runtime.settings.max_request_bytes)
    # FastAPI tries the routes in this order, one by one: the secret reads, the hot path of
    # every client, come first (no other route shares their paths, so the order changes
    # nothing else).
    for router in (
        secrets.router,
        status.router,
        auth.router,
        projects.router,
        identities.router,
        audit.router,
        connections.router,
        rotations.router,
        folders.router,
    ):
        app.include_router(router)
    app.include_router(ui_routes.router)
    install_openapi(app)
    return app


def app_from_environment() -> FastAPI:
    """The app from the ``LDAPKEEPER_*`` settings: for ``uvicorn --factory
    ldapkeeper.app:app_from_environment``, and for each of several ``serve`` processes
    (``LDAPKEEPER_SERVE_PROCESSES``), on a database the first one has already migrated and
    bootstrapped."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(build_runtime(settings))
