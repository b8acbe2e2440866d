"""CA files and the bounded TLS handshake probe."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from ldapkeeper.directory import BindCredentials, DirectoryError
from ldapkeeper.ldap import LdapDirectory
from ldapkeeper.ldap.tls import (
    CaStore,
    ProbeCache,
    ProbeKey,
    ProbeResult,
    probe_tls,
    system_ca_file,
)
from tests.support.blackhole import Blackhole, closed_port
from tests.support.slapd import SlapdServer

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


def test_ca_store_writes_each_bundle_once(tmp_path: Path) -> None:
    store = CaStore(tmp_path / "ca")
    first = store.file_for(PEM)
    first.write_text("tampered")  # a second call must not rewrite an existing file
    assert store.file_for(PEM) == first
    assert first.read_text() == "tampered"


def test_ca_store_names_files_by_content_hash(tmp_path: Path) -> None:
    store = CaStore(tmp_path / "ca")
    assert store.file_for(PEM) == store.file_for(f"\n{PEM}\n\n")
    assert store.file_for(PEM) != store.file_for(PEM.replace("MIIB", "MIIC"))


def test_ca_store_uses_private_modes(tmp_path: Path) -> None:
    path = CaStore(tmp_path / "ca").file_for(PEM)
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == PEM + "\n"


def test_system_ca_bundle_is_found() -> None:
    bundle = system_ca_file()
    assert bundle is not None
    assert bundle.is_file()


def probe(port: int, **kwargs: Any) -> ProbeResult:
    options: dict[str, Any] = {
        "address": "127.0.0.1",
        "port": port,
        "server_hostname": "127.0.0.1",
        "ca_file": None,
        "verify": True,
        "start_tls": False,
        "timeout": 1.0,
        "endpoint": f"127.0.0.1:{port}",
    }
    options.update(kwargs)
    return probe_tls(**options)


def test_probe_of_a_silent_server_times_out_within_the_bound(blackhole: Blackhole) -> None:
    started = time.monotonic()
    with pytest.raises(DirectoryError) as caught:
        probe(blackhole.port)
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 2


def test_probe_of_a_closed_port_is_connection_refused() -> None:
    with pytest.raises(DirectoryError) as caught:
        probe(closed_port())
    assert caught.value.code == "connection_refused"


@pytest.mark.slapd
def test_probe_with_the_right_ca_finds_no_problem(slapd: SlapdServer) -> None:
    result = probe(slapd.ldaps_port, ca_file=slapd.ca_path)
    assert result.problem is None


@pytest.mark.slapd
def test_probe_without_the_ca_explains_the_failure(slapd: SlapdServer) -> None:
    problem = probe(slapd.ldaps_port).problem
    assert problem is not None
    assert "certificate verification failed" in problem


@pytest.mark.slapd
def test_probe_with_starttls_upgrades_a_plain_port(slapd: SlapdServer) -> None:
    result = probe(slapd.ldap_port, ca_file=slapd.ca_path, start_tls=True)
    assert result.problem is None


@pytest.mark.slapd
def test_probe_of_a_plain_port_reports_a_handshake_failure(slapd: SlapdServer) -> None:
    problem = probe(slapd.ldap_port, verify=False).problem
    assert problem is not None
    assert "TLS handshake failed" in problem


def test_unwritable_ca_directory_is_a_directory_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    directory = LdapDirectory(ca_dir=blocker / "ca")
    creds = BindCredentials(
        "open-ldap", "ldaps://192.0.2.1", "cn=x", SecretStr("x"), ssl_certificate=PEM
    )
    with pytest.raises(DirectoryError) as caught:
        directory.check(creds=creds)
    assert caught.value.code == "operation_failed"


# -- remembered probes --------------------------------------------------------------------

KEY: ProbeKey = ("192.0.2.10", 636, "dc1.example.com", None, True)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_probe_cache_knows_a_clean_probe_until_its_time_to_live_ends() -> None:
    clock = Clock()
    cache = ProbeCache(ttl_seconds=5.0, clock=clock)
    assert not cache.fresh(KEY)
    cache.remember(KEY)
    clock.now += 4.9
    assert cache.fresh(KEY)
    clock.now += 0.2
    assert not cache.fresh(KEY)


def test_probe_cache_keys_on_every_tls_setting() -> None:
    cache = ProbeCache(ttl_seconds=5.0, clock=Clock())
    cache.remember(KEY)
    address, port, name, ca_file, verify = KEY
    assert not cache.fresh(("192.0.2.11", port, name, ca_file, verify))
    assert not cache.fresh((address, 3269, name, ca_file, verify))
    assert not cache.fresh((address, port, "dc2.example.com", ca_file, verify))
    assert not cache.fresh((address, port, name, Path("/ca/other.pem"), verify))
    assert not cache.fresh((address, port, name, ca_file, False))


def test_probe_cache_forgets_a_failed_endpoint() -> None:
    cache = ProbeCache(ttl_seconds=5.0, clock=Clock())
    cache.remember(KEY)
    cache.forget(KEY)
    assert not cache.fresh(KEY)


def test_probe_cache_drops_the_oldest_endpoint_beyond_its_size() -> None:
    cache = ProbeCache(ttl_seconds=5.0, max_entries=2, clock=Clock())
    keys = [(f"192.0.2.{n}", 636, "dc.example.com", None, True) for n in range(3)]
    for key in keys:
        cache.remember(key)
    assert [cache.fresh(key) for key in keys] == [False, True, True]


def test_probe_cache_with_no_time_to_live_remembers_nothing() -> None:
    cache = ProbeCache(ttl_seconds=0.0, clock=Clock())
    cache.remember(KEY)
    assert not cache.fresh(KEY)
