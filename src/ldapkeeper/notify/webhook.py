"""Failure notifications: a JSON POST to ``LDAPKEEPER_NOTIFY_WEBHOOK_URL``.

The URL is the operator's (set in the environment), not a tenant's, so it is not subject to
the network guard. Delivery runs in the background and never blocks a rotation.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import httpx

from ldapkeeper.db.models import SecretRotation

log = logging.getLogger("ldapkeeper.notify")


class WebhookNotifier:
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    def rotation_failed(self, rotation: SecretRotation, message: str) -> None:
        """Send the failure of a rotation (never a password) to the webhook, in the background."""
        payload: dict[str, Any] = {
            "event": "secret-rotation-failed",
            "rotationId": rotation.id,
            "rotationName": rotation.name,
            "projectId": rotation.project_id,
            "message": message,
            "failedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        threading.Thread(target=self._post, args=(payload,), daemon=True).start()

    def _post(self, payload: dict[str, Any]) -> None:
        try:
            response = httpx.post(self.url, json=payload, timeout=self.timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("webhook delivery failed", extra={"error_type": type(exc).__name__})
