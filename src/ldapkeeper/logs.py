"""Structured JSON logs with one redaction filter as the last guard against leaks."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

MASK = "********************"
_SENSITIVE_FIELD = re.compile(r"pass(word)?|secret|token|authorization|credential", re.I)
_INLINE = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(?i)((?:pass(?:word)?|secret|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&}]+"),
]
# uvicorn's color_message repeats the message with terminal colour codes.
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",
}


def redact_text(text: str) -> str:
    """Mask bearer tokens and ``password=...``-style values inside free text."""
    for pattern in _INLINE:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SENSITIVE_FIELD.search(key):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = _redact_value(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: exception text can carry values we cannot vouch for.
            payload["exception"] = record.exc_info[0].__name__
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send every logger (ours and uvicorn's) through the JSON formatter on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
