"""Runtime settings, read from ``LDAPKEEPER_*`` environment variables (SPEC section 8)."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of a server or worker process; defaults follow SPEC section 8."""

    model_config = SettingsConfigDict(env_prefix="LDAPKEEPER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Path("./data")
    database_url: str | None = None
    root_key: SecretStr | None = None
    root_key_previous: SecretStr | None = None
    allow_internal_ip_connections: bool = False
    allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    referral_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ldap_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    notify_webhook_url: str | None = None
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    bootstrap_client_id: str | None = None
    bootstrap_client_secret: SecretStr | None = None
    access_token_ttl_seconds: int = Field(default=7200, ge=60)
    access_token_max_ttl_seconds: int = Field(default=2592000, ge=60)
    login_max_failures: int = Field(default=10, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    # ``serve`` processes sharing the port (PostgreSQL only: SQLite has one writer process).
    serve_processes: int = Field(default=1, ge=1, le=64)
    run_worker: bool = True
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    # At most this many rotations at once against one directory host, per worker process.
    worker_per_host_limit: int = Field(default=4, ge=1, le=256)
    # How often an idle worker looks for due rotations.
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # A worker's claim on a rotation; renewed while it works, taken over once expired.
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    # Fault injection for the crash tests: hold the process at this engine step (forever),
    # after writing test_hold_file, so a test can kill it there. Never set in production.
    test_hold_at: str | None = None
    test_hold_file: Path | None = None
    log_level: str = "INFO"

    @field_validator("allowed_networks", "referral_hosts", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("allowed_networks")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @field_validator("notify_webhook_url", "database_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @cached_property
    def networks(self) -> tuple[IPNetwork, ...]:
        """``allowed_networks`` parsed."""
        return tuple(ipaddress.ip_network(c, strict=False) for c in self.allowed_networks)

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ldapkeeper.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")
