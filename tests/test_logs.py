import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from ldapkeeper.logs import MASK, JsonFormatter, configure_logging, redact_text


def _record(message: str, *args: object, **extra: Any) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "ldapkeeper.test", "levelno": logging.INFO, "levelname": "INFO"}
    )
    record.msg, record.args = message, args
    record.__dict__.update(extra)
    return record


def _format(record: logging.LogRecord) -> dict[str, Any]:
    line = JsonFormatter().format(record)
    assert "\n" not in line
    payload: dict[str, Any] = json.loads(line)
    return payload


def test_a_record_is_one_json_object_on_one_line() -> None:
    payload = _format(_record("first line\nsecond line"))
    assert payload["message"] == "first line\nsecond line"
    assert (payload["level"], payload["logger"]) == ("info", "ldapkeeper.test")
    assert payload["time"].endswith("Z")


def test_message_arguments_are_interpolated() -> None:
    assert (
        _format(_record("%s rotated %d times", "cn=svc", 3))["message"] == "cn=svc rotated 3 times"
    )


def test_extra_fields_are_kept() -> None:
    assert _format(_record("done", connection_id="c-1", latency_ms=12))["latency_ms"] == 12


@pytest.mark.parametrize(
    "field", ["password", "new_password", "client_secret", "secret", "access_token", "token"]
)
def test_fields_named_like_secrets_are_masked(field: str) -> None:
    payload = _format(_record("done", **{field: "hunter2"}))
    assert payload[field] == MASK
    assert "hunter2" not in json.dumps(payload)


def test_secret_fields_inside_nested_mappings_are_masked() -> None:
    payload = _format(_record("done", request={"dn": "cn=svc", "password": "hunter2"}))
    assert payload["request"] == {"dn": "cn=svc", "password": MASK}


@pytest.mark.parametrize(
    "message",
    [
        "Authorization: Bearer eyJhbGciOi.payload.sig-hunter2",
        "bind failed password=hunter2 for cn=svc",
        'body {"password": "hunter2"}',
        "client_secret=hunter2&client_id=x",
        "token: hunter2",
    ],
)
def test_secrets_inside_messages_are_masked(message: str) -> None:
    payload = _format(_record(message))
    assert "hunter2" not in payload["message"]
    assert MASK in payload["message"]


def test_secrets_inside_string_fields_are_masked() -> None:
    payload = _format(_record("done", detail="retry with password=hunter2"))
    assert "hunter2" not in payload["detail"]


def test_text_without_secrets_is_left_alone() -> None:
    assert redact_text("bound as cn=svc,dc=example,dc=com in 12 ms") == (
        "bound as cn=svc,dc=example,dc=com in 12 ms"
    )


def test_exception_is_logged_by_its_type_only() -> None:
    try:
        raise ValueError("password=hunter2 in the exception text")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    payload = _format(record)
    assert payload["exception"] == "ValueError"
    assert "hunter2" not in json.dumps(payload)
    assert "Traceback" not in json.dumps(payload)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_configured_logging_writes_json_lines_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    logging.getLogger("ldapkeeper.test").info("hello", extra={"password": "hunter2"})
    logging.getLogger("uvicorn.error").info("served")
    lines = capsys.readouterr().err.splitlines()
    payloads = [json.loads(line) for line in lines]
    assert [p["message"] for p in payloads] == ["hello", "served"]
    assert payloads[0]["password"] == MASK


@pytest.mark.usefixtures("restore_logging")
def test_configured_level_filters_records(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning")
    logging.getLogger("ldapkeeper.test").info("quiet")
    assert capsys.readouterr().err == ""


def test_uvicorn_colour_copy_of_the_message_is_dropped() -> None:
    payload = _format(_record("Started", color_message="\x1b[36mStarted\x1b[0m"))
    assert "color_message" not in payload
