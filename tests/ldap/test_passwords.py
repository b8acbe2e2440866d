"""The Active Directory password value."""

from __future__ import annotations

from pydantic import SecretStr

from ldapkeeper.ldap.passwords import unicode_pwd


def test_unicode_pwd_is_utf16le_of_the_quoted_password() -> None:
    assert unicode_pwd(SecretStr("Pw1")) == b'"\x00P\x00w\x001\x00"\x00'


def test_unicode_pwd_keeps_non_ascii_characters() -> None:
    assert unicode_pwd(SecretStr("é€")).decode("utf-16-le") == '"é€"'


def test_unicode_pwd_keeps_surrounding_spaces() -> None:
    assert unicode_pwd(SecretStr(" x ")).decode("utf-16-le") == '" x "'
