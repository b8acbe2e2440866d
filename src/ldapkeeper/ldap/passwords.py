"""The two password-change dialects (SPEC section 4). The provider setting chooses one;
there is no silent fallback from one to the other.

- `active-directory`: attribute `unicodePwd`, value the UTF-16LE bytes of the password in
  double quotes; an administrative reset is one `replace`, a self-change one modify with
  `delete` old + `add` new (AD checks the old value and the password history).
- `open-ldap`: the RFC 3062 Password Modify extended operation; the server hashes the
  password (a cleartext `userPassword` is never written).
"""

from __future__ import annotations

import ldap
from pydantic import SecretStr

from ldapkeeper.directory import Provider


def unicode_pwd(password: SecretStr) -> bytes:
    """Active Directory's `unicodePwd` value: UTF-16LE of the double-quoted password."""
    return f'"{password.get_secret_value()}"'.encode("utf-16-le")


def reset_password(
    conn: ldap.LDAPObject, *, provider: Provider, target_dn: str, new_password: SecretStr
) -> None:
    """Set `target_dn`'s password as the bound (administrative) account.

    Raises:
        ldap.LDAPError: whatever the server answers; the caller classifies it.
    """
    if provider == "active-directory":
        conn.modify_s(target_dn, [(ldap.MOD_REPLACE, "unicodePwd", [unicode_pwd(new_password)])])
    else:
        conn.passwd_s(target_dn, None, new_password.get_secret_value())


def change_own_password(
    conn: ldap.LDAPObject,
    *,
    provider: Provider,
    dn: str,
    old_password: SecretStr,
    new_password: SecretStr,
) -> None:
    """Change the bound account's own password (`dn`), proving the old one.

    Raises:
        ldap.LDAPError: whatever the server answers; the caller classifies it.
    """
    if provider == "active-directory":
        conn.modify_s(
            dn,
            [
                (ldap.MOD_DELETE, "unicodePwd", [unicode_pwd(old_password)]),
                (ldap.MOD_ADD, "unicodePwd", [unicode_pwd(new_password)]),
            ],
        )
    else:
        conn.passwd_s(dn, old_password.get_secret_value(), new_password.get_secret_value())
