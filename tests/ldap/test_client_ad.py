"""LdapDirectory against a real Samba AD DC (the unicodePwd dialect, UPNs, AD sub-codes).

The `samba_ad` fixture skips when not root (outside CI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from ldapkeeper.directory import BindCredentials, DirectoryError
from ldapkeeper.ldap import LdapDirectory
from tests.ldap.builders import creds_for
from tests.support.ldapclient import make_password
from tests.support.samba import AdUser, SambaServer

pytestmark = pytest.mark.samba


def admin_creds(samba_ad: SambaServer, *, who: str | None = None, **kwargs: Any) -> BindCredentials:
    return creds_for(
        samba_ad,
        who or samba_ad.admin_dn,
        samba_ad.admin_password,
        provider="active-directory",
        **kwargs,
    )


def failure(action: Callable[..., object], **kwargs: Any) -> DirectoryError:
    with pytest.raises(DirectoryError) as caught:
        action(**kwargs)
    return caught.value


def test_check_binds_with_a_upn(samba_ad: SambaServer, directory: LdapDirectory) -> None:
    assert directory.check(creds=admin_creds(samba_ad, who=samba_ad.admin_upn)) > 0


def test_check_binds_with_a_dn_over_starttls(
    samba_ad: SambaServer, directory: LdapDirectory
) -> None:
    creds = admin_creds(samba_ad, url=samba_ad.ldap_url, start_tls=True)
    assert directory.check(creds=creds) > 0


def test_resolve_dn_finds_the_entry_of_a_upn(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    found = directory.resolve_dn(creds=admin_creds(samba_ad), name=samba_user.upn)
    assert directory.same_dn(found, samba_user.dn)
    assert found == directory.normalize_dn(found)


def test_resolve_dn_finds_the_builtin_administrator_by_its_implicit_upn(
    samba_ad: SambaServer, directory: LdapDirectory
) -> None:
    found = directory.resolve_dn(creds=admin_creds(samba_ad), name=samba_ad.admin_upn)
    assert directory.same_dn(found, samba_ad.admin_dn)


def test_resolve_dn_does_not_take_an_implicit_upn_of_another_domain(
    samba_ad: SambaServer, directory: LdapDirectory
) -> None:
    err = failure(
        directory.resolve_dn, creds=admin_creds(samba_ad), name="Administrator@other.test"
    )
    assert err.code == "ambiguous_target"


def test_resolve_dn_of_an_unknown_upn_is_ambiguous_target(
    samba_ad: SambaServer, directory: LdapDirectory
) -> None:
    err = failure(
        directory.resolve_dn, creds=admin_creds(samba_ad), name="nobody-here@example.test"
    )
    assert err.code == "ambiguous_target"


def test_resolve_dn_escapes_filter_characters(
    samba_ad: SambaServer, directory: LdapDirectory
) -> None:
    # Unescaped, "*" would match every user of the domain.
    err = failure(directory.resolve_dn, creds=admin_creds(samba_ad), name="*@example.test")
    assert err.code == "ambiguous_target"
    assert "No entry" in err.message


def test_admin_reset_sets_unicode_pwd(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    new = make_password()
    directory.reset_password(
        creds=admin_creds(samba_ad), target_dn=samba_user.dn, new_password=SecretStr(new)
    )
    assert samba_ad.can_bind(samba_user.dn, new)
    assert not samba_ad.can_bind(samba_user.dn, samba_user.password)


def test_self_change_deletes_the_old_and_adds_the_new_password(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    new = make_password()
    directory.change_own_password(
        creds=admin_creds(samba_ad),
        dn=samba_user.dn,
        old_password=SecretStr(samba_user.password),
        new_password=SecretStr(new),
    )
    assert samba_ad.can_bind(samba_user.upn, new)
    assert not samba_ad.can_bind(samba_user.upn, samba_user.password)


def test_self_change_binding_with_a_upn(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    new = make_password()
    directory.change_own_password(
        creds=admin_creds(samba_ad),
        dn=samba_user.upn,
        old_password=SecretStr(samba_user.password),
        new_password=SecretStr(new),
    )
    assert samba_ad.can_bind(samba_user.dn, new)


def test_too_short_password_is_password_rejected(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    err = failure(
        directory.reset_password,
        creds=admin_creds(samba_ad),
        target_dn=samba_user.dn,
        new_password=SecretStr("Ab1!"),
    )
    assert err.code == "password_rejected"
    assert samba_ad.can_bind(samba_user.dn, samba_user.password)


def test_user_resetting_another_is_insufficient_access(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    creds = creds_for(samba_ad, samba_user.dn, samba_user.password, provider="active-directory")
    err = failure(
        directory.reset_password,
        creds=creds,
        target_dn=samba_ad.admin_dn,
        new_password=SecretStr(make_password()),
    )
    assert err.code == "insufficient_access"


def test_disabled_account_is_invalid_credentials_account_disabled(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    samba_ad.disable_user(samba_user.sam)
    creds = creds_for(samba_ad, samba_user.upn, samba_user.password, provider="active-directory")
    err = failure(directory.check, creds=creds)
    assert err.code == "invalid_credentials"
    assert err.message == "Invalid credentials (account disabled)"


def test_must_change_password_is_named(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    samba_ad.set_must_change_password(samba_user.sam)
    creds = creds_for(samba_ad, samba_user.dn, samba_user.password, provider="active-directory")
    err = failure(directory.check, creds=creds)
    assert err.code == "invalid_credentials"
    assert err.message == "Invalid credentials (user must reset password)"


def test_verify_bind_raises_for_a_disabled_account_instead_of_saying_false(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    samba_ad.disable_user(samba_user.sam)
    err = failure(
        directory.verify_bind,
        creds=admin_creds(samba_ad),
        dn=samba_user.dn,
        password=SecretStr(samba_user.password),
    )
    assert "account disabled" in err.message


def test_verify_bind_is_false_for_a_wrong_password(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    assert not directory.verify_bind(
        creds=admin_creds(samba_ad), dn=samba_user.dn, password=SecretStr("Wrong-123456")
    )


def test_verify_bind_is_true_for_the_current_password(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    assert directory.verify_bind(
        creds=admin_creds(samba_ad), dn=samba_user.upn, password=SecretStr(samba_user.password)
    )


def test_openldap_dialect_on_active_directory_is_unsupported_without_fallback(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    creds = creds_for(samba_ad, samba_ad.admin_dn, samba_ad.admin_password)  # open-ldap
    err = failure(
        directory.reset_password,
        creds=creds,
        target_dn=samba_user.dn,
        new_password=SecretStr(make_password()),
    )
    assert err.code == "unsupported"
    assert samba_ad.can_bind(samba_user.dn, samba_user.password)


def test_ad_reset_over_plain_ldap_is_refused(
    samba_ad: SambaServer, samba_user: AdUser, directory: LdapDirectory
) -> None:
    err = failure(
        directory.reset_password,
        creds=admin_creds(samba_ad, url=samba_ad.ldap_url, ca=None),
        target_dn=samba_user.dn,
        new_password=SecretStr(make_password()),
    )
    assert err.code == "insecure_transport"
