"""The assembled process: settings → database → keys → token service. One per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ldapkeeper.bootstrap import BootstrapResult, bootstrap, current_org_id
from ldapkeeper.clock import SystemClock
from ldapkeeper.db.migrate import upgrade
from ldapkeeper.db.session import Database
from ldapkeeper.directory import DirectoryClient
from ldapkeeper.identity.service import LoginPolicy
from ldapkeeper.identity.tokens import TokenService, load_signing_key
from ldapkeeper.kms.keyring import KeyRing
from ldapkeeper.kms.root_key import load_or_create_root_key, parse_root_key
from ldapkeeper.ldap.client import LdapDirectory
from ldapkeeper.ldap.guard import NetworkPolicy
from ldapkeeper.notify.webhook import WebhookNotifier
from ldapkeeper.rotations.engine import RotationEngine, StepHook
from ldapkeeper.rotations.scheduler import RotationWorker
from ldapkeeper.rotations.service import RotationService
from ldapkeeper.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    keyring: KeyRing
    tokens: TokenService
    org_id: str
    directory: DirectoryClient
    engine: RotationEngine
    rotations: RotationService
    bootstrap_result: BootstrapResult | None = field(default=None, repr=False)

    @property
    def login_policy(self) -> LoginPolicy:
        return LoginPolicy(self.settings.login_max_failures, self.settings.login_window_seconds)

    def worker(self) -> RotationWorker:
        """A rotation worker over this runtime's engine (started by the caller)."""
        return RotationWorker(
            self.engine,
            concurrency=self.settings.worker_concurrency,
            per_host_limit=self.settings.worker_per_host_limit,
            poll_seconds=self.settings.worker_poll_seconds,
        )


def open_keyring(settings: Settings) -> KeyRing:
    root_text = settings.root_key.get_secret_value() if settings.root_key else None
    root = load_or_create_root_key(root_text, settings.data_dir)
    previous = settings.root_key_previous
    return KeyRing(root, parse_root_key(previous.get_secret_value()) if previous else None)


def open_directory(settings: Settings) -> DirectoryClient:
    """The LDAP adapter configured from settings (timeout, network guard, CA dir, referrals)."""
    return LdapDirectory(
        ca_dir=settings.data_dir / "ca",
        network_policy=NetworkPolicy(
            allow_internal=settings.allow_internal_ip_connections,
            allowed_networks=settings.networks,
        ),
        timeout_seconds=settings.ldap_timeout_seconds,
        referral_hosts=settings.referral_hosts,
    )


def hold_hook(settings: Settings) -> StepHook:
    """The crash tests' switch: block forever at ``test_hold_at`` after touching a file."""
    step_to_hold, marker = settings.test_hold_at, settings.test_hold_file

    def hold(step: str) -> None:
        if step != step_to_hold:
            return
        if marker is not None:
            marker.write_text(step)
        threading.Event().wait()

    return hold


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Migrate, bootstrap an empty database, and load the token key."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    if migrate:
        upgrade(db)
    keyring = open_keyring(settings)
    with db.write() as session:
        db.lock_installation(session)
        result = bootstrap(session, keyring=keyring, settings=settings)
    with db.read() as session:
        org_id = current_org_id(session)
        if org_id is None:
            raise RuntimeError("bootstrap did not create an organization")
        signing_key = load_signing_key(session, keyring, org_id)
    directory = open_directory(settings)
    notifier = WebhookNotifier(settings.notify_webhook_url) if settings.notify_webhook_url else None
    engine = RotationEngine(
        db=db,
        keyring=keyring,
        directory=directory,
        clock=SystemClock(),
        on_failure=notifier.rotation_failed if notifier else None,
        hold=hold_hook(settings),
        lease_seconds=settings.lease_seconds,
    )
    rotations = RotationService(
        db=db, keyring=keyring, directory=directory, engine=engine, clock=SystemClock()
    )
    return Runtime(
        settings=settings,
        db=db,
        keyring=keyring,
        tokens=TokenService(signing_key),
        org_id=org_id,
        directory=directory,
        engine=engine,
        rotations=rotations,
        bootstrap_result=result,
    )
