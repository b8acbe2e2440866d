import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ldapkeeper.bootstrap import DEFAULT_ADMIN_EMAIL
from ldapkeeper.db.models import (
    DataKey,
    Environment,
    Folder,
    MachineIdentity,
    Organization,
    Project,
    SealedSetting,
    User,
)
from ldapkeeper.runtime import Runtime, build_runtime
from ldapkeeper.settings import Settings
from tests.support.app import ADMIN_EMAIL, CLIENT_ID, make_settings
from tests.support.ci import missing
from tests.support.database import drop_postgres, fresh_postgres_url, postgres_available


def _count(runtime: Runtime, model: type[object]) -> int:
    with runtime.db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_first_start_creates_org_default_project_and_admins(runtime_any_db: Runtime) -> None:
    with runtime_any_db.db.read() as session:
        project = session.scalars(select(Project)).one()
        user = session.scalars(select(User)).one()
        identity = session.scalars(select(MachineIdentity)).one()
        environments = session.scalars(
            select(Environment.slug).order_by(Environment.position)
        ).all()
    assert (project.name, project.slug, project.org_id) == (
        "default",
        "default",
        runtime_any_db.org_id,
    )
    assert environments == ["dev", "staging", "prod"]
    assert (user.email, user.org_role) == (ADMIN_EMAIL, "admin")
    assert (identity.client_id, identity.org_role) == (CLIENT_ID, "admin")


def test_first_start_makes_a_root_folder_per_environment(runtime: Runtime) -> None:
    with runtime.db.read() as session:
        paths = session.scalars(select(Folder.path)).all()
    assert paths == ["/", "/", "/"]


def test_first_start_makes_org_and_project_data_keys_and_the_signing_key(
    runtime: Runtime,
) -> None:
    with runtime.db.read() as session:
        scopes = sorted(session.scalars(select(DataKey.scope_type)).all())
        settings = session.scalars(select(SealedSetting.name)).all()
    assert scopes == ["org", "project"]
    assert settings == ["jwt_signing_key"]


def test_first_start_reports_the_bootstrap_credentials_once(runtime: Runtime) -> None:
    assert runtime.bootstrap_result is not None
    assert runtime.bootstrap_result.client_id == CLIENT_ID
    again = build_runtime(runtime.settings)
    try:
        assert again.bootstrap_result is None
    finally:
        again.db.dispose()


def test_second_start_creates_nothing(runtime_any_db: Runtime) -> None:
    again = build_runtime(runtime_any_db.settings)
    try:
        counts = [_count(again, m) for m in (Organization, Project, User, MachineIdentity)]
        assert counts == [1, 1, 1, 1]
        assert _count(again, DataKey) == 2
    finally:
        again.db.dispose()


def test_bootstrap_result_hides_secrets_in_repr(runtime: Runtime) -> None:
    result = runtime.bootstrap_result
    assert result is not None
    assert result.admin_password not in repr(result)
    assert result.client_secret not in repr(result)


def test_generated_credentials_are_random_and_flagged(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_url)
    runtime = build_runtime(settings)
    try:
        result = runtime.bootstrap_result
        assert result is not None
        assert result.generated
        assert result.admin_email == DEFAULT_ADMIN_EMAIL
        assert len(result.admin_password) >= 16
        assert len(result.client_secret) == 64
    finally:
        runtime.db.dispose()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    if not postgres_available():
        missing("no PostgreSQL answers (set LDAPKEEPER_TEST_DATABASE_URL)")
    name, url = fresh_postgres_url(None)
    yield url
    drop_postgres(name)


def test_processes_starting_together_make_one_installation(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    settings = make_settings(tmp_path / "data", empty_postgres_url)
    start = threading.Barrier(4)
    runtimes: list[Runtime] = []
    errors: list[BaseException] = []

    def first_start() -> None:
        start.wait()
        try:
            runtimes.append(build_runtime(settings))
        except BaseException as exc:  # noqa: BLE001  (asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=first_start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        assert len({r.org_id for r in runtimes}) == 1
        assert sum(r.bootstrap_result is not None for r in runtimes) == 1
        assert _count(runtimes[0], Organization) == 1
    finally:
        for runtime in runtimes:
            runtime.db.dispose()
