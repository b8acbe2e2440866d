"""Forms named by API paths nest into API bodies; issues come back to their fields."""

from __future__ import annotations

from ldapkeeper.connections.schemas import LdapConnectionCreate
from ldapkeeper.ui.forms import FormErrors, FormFields, body_from, nest, validate


def test_dotted_names_nest_into_the_api_body() -> None:
    assert nest({"name": "a", "credentials.url": "u", "credentials.dn": "d"}) == {
        "name": "a",
        "credentials": {"url": "u", "dn": "d"},
    }


def test_blank_text_fields_are_left_out_and_checkboxes_are_booleans() -> None:
    form = FormFields({"name": "x", "description": "  ", "credentials.startTls": "true"})
    body = body_from(
        form,
        text=["name", "description"],
        checkboxes=["credentials.startTls", "credentials.sslRejectUnauthorized"],
    )
    assert body == {
        "name": "x",
        "credentials": {"startTls": True, "sslRejectUnauthorized": False},
    }


def test_a_password_is_sent_exactly_as_typed() -> None:
    form = FormFields({"credentials.password": "  spaced  "})
    assert body_from(form, text=["credentials.password"]) == {
        "credentials": {"password": "  spaced  "}
    }


def test_lines_become_lists_without_blanks() -> None:
    form = FormFields({"credentials.failoverUrls": "ldaps://a:636\n\n  ldaps://b:636 \n"})
    body = body_from(form, lines=["credentials.failoverUrls"])
    assert body == {"credentials": {"failoverUrls": ["ldaps://a:636", "ldaps://b:636"]}}


def test_passwords_are_never_echoed() -> None:
    form = FormFields(
        {
            "name": "n",
            "credentials.password": "p1",
            "temporaryParameters.password": "p2",
            "secretsMapping.password": "LDAP_PASSWORD",
            "csrf_token": "t",
        }
    )
    assert form.echo() == {"name": "n", "secretsMapping.password": "LDAP_PASSWORD"}


def test_issues_land_on_the_longest_matching_field() -> None:
    body = {
        "name": "Bad Name",
        "credentials": {
            "provider": "open-ldap",
            "url": "ldap://h",
            "dn": "cn=x",
            "password": "p",
            "failoverUrls": ["http://x"],
        },
    }
    fields = ["name", "credentials.url", "credentials.failoverUrls", "credentials"]
    errors = validate(LdapConnectionCreate, body, fields)
    assert isinstance(errors, FormErrors)
    assert errors.of("name")
    assert errors.of("credentials.failoverUrls")
    assert not errors.of("credentials.url")


def test_issues_without_a_field_are_general_and_keep_their_path() -> None:
    errors = validate(LdapConnectionCreate, {"name": "ok"}, ["name"])
    assert isinstance(errors, FormErrors)
    assert errors.general() == ["credentials: Field required"]
