"""Hostile input, generated: validators refuse it the documented way, filters stay literal.

- The connection schema's URL, DN/UPN and certificate validators, on arbitrary text, either
  accept or raise their validation error, nothing else (a stray exception is a 500).
- The adapter's filter builder (``ldap.names.equality_filter``, used to look a UPN up) makes
  a search that, on the real slapd, finds exactly the entry holding the value, whatever
  the value: ``*``, parentheses, backslashes, NUL and non-ASCII included.

Generated passwords meeting their requirements is a property test of its own in
``tests/rotations/test_passwords.py``; the guard on arbitrary host strings is in
``tests/ldap/test_guard.py``.
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Any

import ldap
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ldapkeeper.connections.schemas import (
    LdapConnectionCreate,
    check_bind_name,
    check_ldap_url,
    check_pem_certificates,
)
from ldapkeeper.directory import DirectoryError
from ldapkeeper.ldap.names import equality_filter, is_dn, normalize_dn, same_dn
from tests.support.slapd import SlapdServer

#: Characters that mean something in URLs, DNs, UPNs and filters, to mix into the text.
SPECIAL = ":/@[]%?#=,+<>;\"\\*()\0 \t\n.-_~!$&'{}|^`"
hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from(SPECIAL), st.characters(exclude_categories=["Cs"])),
    max_size=80,
)
url_like = st.builds(
    lambda scheme, host, port, rest: f"{scheme}{host}{port}{rest}",
    st.sampled_from(["ldap://", "ldaps://", "LDAP://", "ldapi://", "http://", "", "ldap:/"]),
    hostile_text,
    st.sampled_from(["", ":", ":389", ":0", ":65536", ":-1", ":99999999999", ": 1", ":1a"]),
    st.sampled_from(["", "/", "/dc=x", "?x", "#f", "@h"]),
)
dn_like = st.builds(
    lambda parts: ",".join(f"{k}={v}" for k, v in parts),
    st.lists(st.tuples(st.sampled_from(["cn", "CN", "dc", "o", "1.2.3", "", "x y"]), hostile_text)),
)
upn_like = st.builds(lambda user, domain: f"{user}@{domain}", hostile_text, hostile_text)
PROVIDERS = st.sampled_from(["active-directory", "open-ldap", None])
QUICK = settings(max_examples=300, deadline=None)


@QUICK
@given(st.one_of(hostile_text, url_like))
def test_url_validator_accepts_or_raises_value_error(text: str) -> None:
    try:
        checked = check_ldap_url(text)
    except ValueError:
        return
    assert checked.lower().startswith(("ldap://", "ldaps://"))


@QUICK
@given(st.one_of(hostile_text, dn_like, upn_like), PROVIDERS)
def test_bind_name_validator_accepts_or_raises_value_error(text: str, provider: str | None) -> None:
    try:
        checked = check_bind_name(text, provider)
    except ValueError:
        return
    assert checked == text.strip()


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        hostile_text,
        st.builds(
            lambda body: f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n",
            hostile_text,
        ),
    )
)
def test_certificate_validator_accepts_or_raises_value_error(text: str) -> None:
    try:
        check_pem_certificates(text)
    except ValueError:
        return


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)


@QUICK
@given(
    url=st.one_of(url_like, json_values),
    dn=st.one_of(dn_like, upn_like, json_values),
    failover=st.one_of(st.lists(url_like, max_size=3), json_values),
    provider=st.one_of(PROVIDERS, json_values),
    start_tls=st.one_of(st.booleans(), json_values),
)
def test_connection_body_is_valid_or_a_validation_error(
    url: Any, dn: Any, failover: Any, provider: Any, start_tls: Any
) -> None:
    body = {
        "name": "prop",
        "method": "simple-bind",
        "credentials": {
            "provider": provider,
            "url": url,
            "dn": dn,
            "password": "x",
            "failoverUrls": failover,
            "startTls": start_tls,
        },
    }
    try:
        LdapConnectionCreate.model_validate(body)
    except ValidationError:
        return


@QUICK
@given(st.one_of(hostile_text, dn_like))
def test_dn_normalization_raises_only_directory_errors_and_is_stable(text: str) -> None:
    refused: str = ""
    try:
        normal = normalize_dn(text)
    except DirectoryError as exc:
        refused = exc.code
    if refused:
        assert refused == "invalid_input"
        return
    assert is_dn(normal)
    assert normalize_dn(normal) == normal
    assert same_dn(text, normal)


# -- filter escaping against the real directory ----------------------------------------------

#: Values already in the directory that a badly escaped filter would match instead.
DECOYS = ["*", "a*", "(", ")", "\\", "\\2a", "x)(uid=*", "*)(|(objectClass=*", "a", "A b"]
filter_values = st.text(
    alphabet=st.one_of(
        st.sampled_from("*()\\\0 aAb=,&|!~<>"), st.characters(exclude_categories=["Cs", "Cc"])
    ),
    min_size=1,
    max_size=24,
)


def _matching_form(value: str) -> str:
    """What LDAP's caseIgnoreMatch compares (RFC 4518, roughly): NFKC, case and spaces
    folded. Two values with the same form may rightly match each other."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


@pytest.fixture(scope="module")
def decoyed(slapd: SlapdServer) -> tuple[SlapdServer, str]:
    """An OU of its own on slapd holding the decoys (as ``description`` values)."""
    ou = f"ou=filters-{secrets.token_hex(4)},{slapd.base_dn}"
    with slapd.root_connection() as conn:
        conn.add_s(
            ou, [("objectClass", [b"organizationalUnit"]), ("ou", [ou[3:].split(",")[0].encode()])]
        )
        for index, decoy in enumerate(DECOYS):
            conn.add_s(
                f"cn=decoy{index},{ou}",
                [
                    ("objectClass", [b"applicationProcess"]),
                    ("cn", [f"decoy{index}".encode()]),
                    ("description", [decoy.encode()]),
                ],
            )
    return slapd, ou


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=filter_values)
def test_escaped_filter_finds_exactly_the_entry_with_that_value(
    decoyed: tuple[SlapdServer, str], value: str
) -> None:
    slapd, ou = decoyed
    assume(value.strip(" ") and "\0" not in value.strip(" ")[:1])
    assume(_matching_form(value) not in {_matching_form(d) for d in DECOYS})
    dn = f"cn=probe-{secrets.token_hex(6)},{ou}"
    with slapd.root_connection() as conn:
        try:
            conn.add_s(
                dn,
                [
                    ("objectClass", [b"applicationProcess"]),
                    ("cn", [dn[3:].split(",")[0].encode()]),
                    ("description", [value.encode()]),
                ],
            )
        except ldap.LDAPError as err:
            if type(err).__name__ != "INVALID_SYNTAX":
                raise
            assume(False)  # not a value a directory can hold
        try:
            found = conn.search_s(
                ou, ldap.SCOPE_ONELEVEL, equality_filter("description", value), ["1.1"]
            )
        finally:
            conn.delete_s(dn)
    assert [entry_dn for entry_dn, _ in found] == [dn]
