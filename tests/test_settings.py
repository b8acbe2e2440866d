import ipaddress
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from ldapkeeper.settings import Settings


@pytest.fixture(autouse=True)
def _no_ldapkeeper_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LDAPKEEPER_"):
            monkeypatch.delenv(name)


def test_defaults_follow_spec_section_8() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.data_dir == Path("./data")
    assert settings.database_url is None
    assert settings.root_key is None
    assert settings.root_key_previous is None
    assert settings.allow_internal_ip_connections is False
    assert settings.allowed_networks == []
    assert settings.referral_hosts == []
    assert settings.ldap_timeout_seconds == 15
    assert settings.notify_webhook_url is None
    assert settings.bootstrap_admin_email is None
    assert settings.bootstrap_admin_password is None
    assert settings.bootstrap_client_id is None
    assert settings.bootstrap_client_secret is None


def test_token_lifetimes_default_to_spec_section_2() -> None:
    settings = Settings()
    assert settings.access_token_ttl_seconds == 7200
    assert settings.access_token_max_ttl_seconds == 2592000


def test_settings_are_read_from_ldapkeeper_prefixed_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LDAPKEEPER_HOST", "0.0.0.0")
    monkeypatch.setenv("LDAPKEEPER_PORT", "18080")
    monkeypatch.setenv("LDAPKEEPER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LDAPKEEPER_ALLOW_INTERNAL_IP_CONNECTIONS", "true")
    monkeypatch.setenv("LDAPKEEPER_LDAP_TIMEOUT_SECONDS", "2.5")
    settings = Settings()
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 18080, tmp_path)
    assert settings.allow_internal_ip_connections is True
    assert settings.ldap_timeout_seconds == 2.5


def test_unprefixed_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9999")
    assert Settings().port == 8080


def test_allowed_networks_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAPKEEPER_ALLOWED_NETWORKS", "10.0.0.0/8, 192.168.1.0/24,,fd00::/8")
    settings = Settings()
    assert settings.allowed_networks == ["10.0.0.0/8", "192.168.1.0/24", "fd00::/8"]
    assert settings.networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.0/24"),
        ipaddress.ip_network("fd00::/8"),
    )


def test_referral_hosts_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAPKEEPER_REFERRAL_HOSTS", "dc1.example.com,dc2.example.com")
    assert Settings().referral_hosts == ["dc1.example.com", "dc2.example.com"]


def test_empty_allowed_networks_variable_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAPKEEPER_ALLOWED_NETWORKS", "")
    assert Settings().networks == ()


def test_invalid_cidr_in_allowed_networks_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAPKEEPER_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-network")
    with pytest.raises(ValidationError, match="allowed_networks"):
        Settings()


def test_serve_runs_one_process_by_default() -> None:
    assert Settings().serve_processes == 1


def test_serve_processes_below_one_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAPKEEPER_SERVE_PROCESSES", "0")
    with pytest.raises(ValidationError, match="serve_processes"):
        Settings()


def test_default_database_is_sqlite_file_in_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'ldapkeeper.db'}"
    assert settings.is_sqlite


def test_default_data_dir_is_data_under_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().effective_database_url == f"sqlite:///{tmp_path / 'data' / 'ldapkeeper.db'}"


def test_configured_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://user@127.0.0.1/db"
    monkeypatch.setenv("LDAPKEEPER_DATABASE_URL", url)
    settings = Settings()
    assert settings.effective_database_url == url
    assert not settings.is_sqlite


def test_empty_database_url_variable_means_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LDAPKEEPER_DATABASE_URL", "")
    monkeypatch.setenv("LDAPKEEPER_DATA_DIR", str(tmp_path))
    assert Settings().effective_database_url == f"sqlite:///{tmp_path / 'ldapkeeper.db'}"


def test_root_key_is_hidden_from_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAPKEEPER_ROOT_KEY", "c2VjcmV0LXJvb3Qta2V5LWNhbmFyeQ==")
    assert "c2VjcmV0" not in repr(Settings())


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_port_outside_tcp_range_is_rejected(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    monkeypatch.setenv("LDAPKEEPER_PORT", port)
    with pytest.raises(ValidationError):
        Settings()


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    undocumented = [
        name
        for name in Settings.model_fields
        if not name.startswith("test_")  # the crash tests' fault injection
        and f"LDAPKEEPER_{name.upper()}" not in readme
        # a row may shorten a second name: `LDAPKEEPER_BOOTSTRAP_CLIENT_ID` / `_CLIENT_SECRET`
        and "`_" + "_".join(name.upper().split("_")[-2:]) + "`" not in readme
    ]
    assert undocumented == []
