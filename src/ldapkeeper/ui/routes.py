"""The web UI's router: one ``include_router`` in ``create_app`` adds every page."""

from __future__ import annotations

from fastapi import APIRouter

from ldapkeeper.ui import connections, login, rotations, secrets

#: The UI's parts, each an APIRouter of ``UiRoute`` routes.
PARTS = (login.router, connections.router, rotations.router, secrets.router)

router = APIRouter(include_in_schema=False)
for part in PARTS:
    router.include_router(part)
