"""Smoke tests: the Samba AD DC fixture is a real AD that behaves as the notes say."""

from __future__ import annotations

import ldap  # type: ignore[import-untyped, unused-ignore]
import pytest
from tests.support import ldapclient
from tests.support.samba import AdUser, SambaServer

pytestmark = pytest.mark.samba


def test_administrator_binds_with_dn(samba_ad: SambaServer) -> None:
    assert samba_ad.can_bind(samba_ad.admin_dn, samba_ad.admin_password)


def test_administrator_binds_with_upn(samba_ad: SambaServer) -> None:
    assert samba_ad.can_bind(samba_ad.admin_upn, samba_ad.admin_password)


def test_plain_ldap_simple_bind_allowed(samba_ad: SambaServer, samba_user: AdUser) -> None:
    assert samba_ad.can_bind(samba_user.dn, samba_user.password, url=samba_ad.ldap_url)


def test_created_user_binds(samba_ad: SambaServer, samba_user: AdUser) -> None:
    assert samba_ad.can_bind(samba_user.upn, samba_user.password)
    assert not samba_ad.can_bind(samba_user.dn, samba_user.password + "x")


def test_disabled_user_fails_with_data_533(samba_ad: SambaServer, samba_user: AdUser) -> None:
    samba_ad.disable_user(samba_user.sam)
    outcome = samba_ad.try_bind(samba_user.dn, samba_user.password)
    assert (outcome.ok, outcome.result) == (False, 49)
    assert "data 533" in outcome.info, outcome


def test_must_change_password_fails_with_data_773(
    samba_ad: SambaServer, samba_user: AdUser
) -> None:
    samba_ad.set_must_change_password(samba_user.sam)
    outcome = samba_ad.try_bind(samba_user.dn, samba_user.password)
    assert "data 773" in outcome.info, outcome


def test_admin_reset_with_unicodepwd_replace(samba_ad: SambaServer, samba_user: AdUser) -> None:
    new_password = ldapclient.make_password()
    with samba_ad.admin_connection() as conn:
        conn.modify_s(
            samba_user.dn,
            [(ldap.MOD_REPLACE, "unicodePwd", [ldapclient.ad_password_value(new_password)])],
        )
    assert samba_ad.can_bind(samba_user.dn, new_password)
    assert not samba_ad.can_bind(samba_user.dn, samba_user.password)
