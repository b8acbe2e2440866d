"""Passwords never leave the adapter in text."""

from __future__ import annotations

import base64

import ldap
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ldapkeeper.ldap.errors import classify
from ldapkeeper.ldap.passwords import unicode_pwd
from ldapkeeper.ldap.redaction import MASK, redact

CANARY = "Canary-Pa55w0rd!"


def test_mask_is_twenty_stars() -> None:
    assert MASK == "********************"


def test_every_occurrence_is_replaced() -> None:
    assert redact(f"a {CANARY} b {CANARY}", CANARY) == f"a {MASK} b {MASK}"


def test_secretstr_is_accepted() -> None:
    assert redact(f"x{CANARY}x", SecretStr(CANARY)) == f"x{MASK}x"


def test_text_without_secret_is_unchanged() -> None:
    assert redact("nothing here", CANARY) == "nothing here"


def test_empty_and_none_secrets_are_ignored() -> None:
    assert redact("keep me", "", None, SecretStr("")) == "keep me"


def test_base64_form_is_replaced() -> None:
    encoded = base64.b64encode(CANARY.encode()).decode()
    assert encoded not in redact(f"userPassword:: {encoded}", CANARY)


def test_unicode_pwd_bytes_repr_is_replaced() -> None:
    text = f"modify failed: {[(2, 'unicodePwd', [unicode_pwd(SecretStr(CANARY))])]!r}"
    assert "C\\x00a\\x00n" not in redact(text, CANARY)


def test_unicode_pwd_base64_is_replaced() -> None:
    encoded = base64.b64encode(unicode_pwd(SecretStr(CANARY))).decode()
    assert encoded not in redact(f"unicodePwd:: {encoded}", CANARY)


def test_escaped_repr_form_is_replaced() -> None:
    secret = "quote'back\\slash"
    assert "back" not in redact(repr(secret), secret)


def test_secret_inside_another_secret_leaves_no_fragment() -> None:
    assert redact("xx-abcdef-xx", "abc", "abcdef") == f"xx-{MASK}-xx"


def test_secret_made_of_stars_does_not_loop() -> None:
    assert redact("a*b", "*") == f"a{MASK}b"


@pytest.mark.parametrize(
    "field",
    ["info", "desc", "matched"],
)
def test_canary_in_libldap_details_never_reaches_the_message(field: str) -> None:
    exc = ldap.OTHER({"result": 80, "desc": "Other", "info": "", field: f"echo {CANARY} echo"})
    err = classify(exc, phase="operation", endpoint="h:636", timeout=1, secrets=[CANARY])
    assert CANARY not in err.message
    assert CANARY not in repr(err)
    assert all(CANARY not in str(arg) for arg in err.args)


@pytest.mark.parametrize(
    "exc",
    [
        ldap.INVALID_CREDENTIALS({"result": 49, "desc": "Invalid credentials", "info": CANARY}),
        ldap.CONSTRAINT_VIOLATION({"result": 19, "desc": "Constraint", "info": f"bad {CANARY}"}),
        ldap.SERVER_DOWN({"result": -1, "desc": "Can't contact", "info": f"TLS {CANARY}"}),
        ldap.INSUFFICIENT_ACCESS({"result": 50, "desc": CANARY, "info": ""}),
        ldap.NO_SUCH_OBJECT({"result": 32, "desc": "No such object", "info": CANARY}),
        ldap.PROTOCOL_ERROR({"result": 2, "desc": "Protocol error", "info": CANARY}),
    ],
)
def test_canary_never_appears_in_any_classified_message(exc: ldap.LDAPError) -> None:
    for phase in ("connect", "tls", "bind", "operation"):
        err = classify(exc, phase=phase, endpoint="h:636", timeout=1, secrets=[CANARY])
        assert CANARY not in err.message


@settings(max_examples=300, deadline=None)
@given(secret=st.text(min_size=1, max_size=30), before=st.text(), after=st.text())
def test_redacted_text_never_contains_the_secret(secret: str, before: str, after: str) -> None:
    # A secret with "*" can meet the mask's own stars; that is not a leak of its value.
    assume("*" not in secret)
    assert secret not in redact(before + secret + after, secret)


def test_lone_surrogate_in_a_secret_is_redacted() -> None:
    secret = "pw\ud800x"
    assert redact(f"a{secret}b", secret) == f"a{MASK}b"
