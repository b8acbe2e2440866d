"""The frame around every request: request id, security headers, metrics, body size limit,
and the last-resort 500, so that error responses carry the same frame as the others."""

from __future__ import annotations

import time
import uuid

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ldapkeeper.api.errors import error_json, unexpected_error
from ldapkeeper.metrics import HTTP_LATENCY, HTTP_REQUESTS

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _TooLarge(Exception):
    pass


class RequestFrame:
    """Pure ASGI (outermost) so that 413s and unexpected errors get the frame too."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4().hex[:16]}"
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        too_large = False
        seen = 0

        async def send_framed(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        async def send_unless_too_large(message: Message) -> None:
            # Once the body was cut off, whatever the app answers (FastAPI turns the cut into
            # a 400 "error parsing the body") is replaced by the 413 below.
            if not too_large:
                await send_framed(message)

        async def receive_limited() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            too_large = True
        else:
            try:
                await self.app(scope, receive_limited, send_unless_too_large)
            except _TooLarge:
                pass
            except Exception as exc:
                if response_started:
                    raise
                await unexpected_error(request_id, exc)(scope, receive, send_framed)
        if too_large and not response_started:
            too_large_error = error_json(request_id, 413, "Request body too large")
            await too_large_error(scope, receive, send_framed)
        template = getattr(scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
        HTTP_LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)


def install_middleware(app: FastAPI, *, max_body_bytes: int) -> None:
    app.add_middleware(RequestFrame, max_body_bytes=max_body_bytes)
