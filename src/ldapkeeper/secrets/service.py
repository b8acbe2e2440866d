"""Secrets of a project: one row per key and folder, its value sealed with the project's key,
and a sealed ``SecretVersion`` for every write.

Two audiences. The API functions (``list_secrets`` … ``delete_secret``) resolve an
environment slug and a path and answer with ``SecretView``. The rotation engine's functions
(``ensure_folder``, ``secret_exists``, ``write_managed_secrets``, ``rename_managed_secret``,
``delete_managed_secrets``, ``read_secret_value``) work on rows. None of them commits: they
run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, bindparam, delete, exists, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ldapkeeper.db.base import new_id, utcnow
from ldapkeeper.db.models import Environment, Folder, Project, Secret, SecretVersion
from ldapkeeper.db.prepared import Batch, Prepared, Sent, batch, insert_of
from ldapkeeper.db.reads import PreparedSelect
from ldapkeeper.db.session import Database
from ldapkeeper.kms.keyring import KeyRing, Scope
from ldapkeeper.projects.errors import EnvironmentNotFound, ProjectNotFound
from ldapkeeper.projects.service import get_environment, get_project, get_project_by_slug
from ldapkeeper.secrets.errors import (
    InvalidSecretPath,
    SecretAlreadyExists,
    SecretManagedByOtherRotation,
    SecretManagedByRotation,
    SecretNotFound,
    SecretVersionNotFound,
)
from ldapkeeper.secrets.folders import canonical_path, find_folder, folders_at
from ldapkeeper.secrets.folders import ensure_folder as ensure_folder
from ldapkeeper.secrets.references import (
    ReferencedSecret,
    ReferenceExpander,
    SecretAddress,
    has_references,
)


@dataclass(frozen=True)
class SecretView:
    """A secret as the API shows it. ``value`` is None when the caller may not see it."""

    id: str
    project_id: str
    environment: str
    secret_path: str
    key: str
    value: str | None
    comment: str
    version: int
    skip_multiline_encoding: bool
    created_at: datetime
    updated_at: datetime


def resolve_project(
    session: Session, *, org_id: str, project_id: str | None, project_slug: str | None
) -> Project:
    """The project named by id (preferred) or slug inside the organization; 404 otherwise."""
    if project_id is not None:
        return get_project(session, org_id=org_id, project_id=project_id)
    if project_slug is not None:
        return get_project_by_slug(session, org_id=org_id, slug=project_slug)
    raise ProjectNotFound()


# --- sealing ------------------------------------------------------------------------------


def _secret_record(secret_id: str) -> str:
    return f"secrets:{secret_id}:value"


def _version_record(version_id: str) -> str:
    return f"secret_versions:{version_id}:value"


class StoredSecret(Protocol):
    """What reading needs of a secret's row: a ``Secret`` or a ``SecretRecord``."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def value_sealed(self) -> bytes: ...
    @property
    def comment(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def skip_multiline_encoding(self) -> bool: ...
    @property
    def managed_by_rotation_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


@dataclass(frozen=True)
class SecretRecord:
    """A secret's row as one read statement returns it (no ORM object to load)."""

    id: str
    project_id: str
    key: str
    value_sealed: bytes = field(repr=False)
    comment: str
    version: int
    skip_multiline_encoding: bool
    managed_by_rotation_id: str | None
    created_at: datetime
    updated_at: datetime


def read_secret_value(
    session: Session | Connection | Database, keyring: KeyRing, secret: StoredSecret
) -> str:
    """The current plaintext value of ``secret``; DecryptionFailed if its ciphertext is not
    the one sealed for this row."""
    plain = keyring.open(
        session, Scope.project(secret.project_id), _secret_record(secret.id), secret.value_sealed
    )
    return plain.decode("utf-8")


def _read_version_value(
    session: Session, keyring: KeyRing, version: SecretVersion, *, project_id: str
) -> str:
    plain = keyring.open(
        session, Scope.project(project_id), _version_record(version.id), version.value_sealed
    )
    return plain.decode("utf-8")


def _store_value(session: Session, keyring: KeyRing, secret: Secret, value: str) -> None:
    """Seal ``value`` into the row and append the sealed version ``secret.version``."""
    scope = Scope.project(secret.project_id)
    plain = value.encode("utf-8")
    secret.value_sealed = keyring.seal(session, scope, _secret_record(secret.id), plain)
    version_id = new_id()
    session.add(
        SecretVersion(
            id=version_id,
            secret_id=secret.id,
            version=secret.version,
            key=secret.key,
            comment=secret.comment,
            value_sealed=keyring.seal(session, scope, _version_record(version_id), plain),
        )
    )


# --- rows ---------------------------------------------------------------------------------


def _find_secret(
    session: Session, *, folder_id: str, key: str, for_update: bool = False
) -> Secret | None:
    query = select(Secret).where(Secret.folder_id == folder_id, Secret.key == key)
    if for_update:
        # Serializes concurrent writers of one secret on PostgreSQL (version numbers).
        query = query.with_for_update()
    return session.scalar(query)


def secret_exists(session: Session, *, folder_id: str, key: str) -> bool:
    """Whether the folder holds a secret named ``key``."""
    return bool(
        session.scalar(select(exists().where(Secret.folder_id == folder_id, Secret.key == key)))
    )


def _insert_secret(
    session: Session,
    keyring: KeyRing,
    *,
    folder: Folder,
    key: str,
    value: str,
    comment: str,
    skip_multiline_encoding: bool,
    rotation_id: str | None,
) -> Secret:
    secret = Secret(
        id=new_id(),
        project_id=folder.project_id,
        environment_id=folder.environment_id,
        folder_id=folder.id,
        key=key,
        comment=comment,
        skip_multiline_encoding=skip_multiline_encoding,
        version=1,
        managed_by_rotation_id=rotation_id,
        value_sealed=b"",
    )
    scope = Scope.project(folder.project_id)
    secret.value_sealed = keyring.seal(
        session, scope, _secret_record(secret.id), value.encode("utf-8")
    )
    try:
        with session.begin_nested():
            session.add(secret)
            session.flush()
    except IntegrityError:
        # Another transaction created the same key in this folder first.
        raise SecretAlreadyExists(key) from None
    version_id = new_id()
    session.add(
        SecretVersion(
            id=version_id,
            secret_id=secret.id,
            version=1,
            key=key,
            comment=comment,
            value_sealed=keyring.seal(
                session, scope, _version_record(version_id), value.encode("utf-8")
            ),
        )
    )
    session.flush()
    return secret


def _bump(session: Session, keyring: KeyRing, secret: Secret, value: str) -> None:
    secret.version += 1
    secret.updated_at = utcnow()
    _store_value(session, keyring, secret, value)
    session.flush()


# --- the rotation engine's functions --------------------------------------------------------

_INSERT_VERSIONS = Prepared(
    insert_of(
        cast(Table, SecretVersion.__table__),
        ("id", "secret_id", "version", "key", "comment", "value_sealed", "created_at"),
    )
)


#: One managed secret of a folder by key, locked on PostgreSQL (serializing concurrent
#: writers of one secret: version numbers). One exact look-up of the (folder, key) index
#: per key: ``key IN (...)`` was planned, before the table had statistics, as a scan of
#: the folder's whole index range with the keys as a filter (2,000 rows for two).
_MANAGED_FIND = Prepared(
    select(Secret.id, Secret.key, Secret.version, Secret.comment, Secret.managed_by_rotation_id)
    .where(Secret.folder_id == bindparam("folder_id"), Secret.key == bindparam("key"))
    .with_for_update()
)


_MANAGED_BUMP = Prepared(
    update(Secret)
    .where(Secret.id == bindparam("b_id"))
    .values(
        value_sealed=bindparam("b_sealed"),
        version=bindparam("b_version"),
        managed_by_rotation_id=bindparam("b_rotation"),
        updated_at=bindparam("b_now"),
    )
)


@dataclass(frozen=True)
class ManagedValues:
    """Values a rotation writes into a folder (of that project and environment), by key."""

    project_id: str
    environment_id: str
    folder_id: str
    rotation_id: str
    values: Mapping[str, str] = field(repr=False)


def write_managed_secrets(session: Session, keyring: KeyRing, managed: ManagedValues) -> None:
    """Write each ``key: value`` of ``managed.values`` into its folder as a secret managed by
    ``managed.rotation_id`` from then on (read-only through the API): a new secret (version
    1), or a new version of an existing one. Each write also appends a sealed
    ``SecretVersion``.

    An existing unmanaged secret of that name is taken over (its earlier value stays in its
    versions). Raises SecretManagedByOtherRotation when another rotation manages one (then
    nothing is written), SecretAlreadyExists when another transaction created one of the
    keys first. A few Core statements for all keys: one look-up, one insert of the new
    secrets, one update of the existing ones, one insert of the versions. The rotation
    engine runs the same steps with its own statements around them (``send_managed_find``,
    ``prepare_managed_writes``, ``ManagedWrites.send``).
    """
    conn = session.connection()
    with batch(conn) as sending:
        found = send_managed_find(sending, managed)
    writes = prepare_managed_writes(session, keyring, managed, found.all())
    with batch(conn) as sending:
        writes.send(sending)


class FoundManaged:
    """The answers of ``send_managed_find``: read them once the batch has ended."""

    def __init__(self, answers: Sequence[Sent]) -> None:
        self._answers = answers

    def all(self) -> list[Any]:
        """The rows found (none for a key the folder does not have)."""
        return [row for answer in self._answers for row in answer.all()]


def send_managed_find(sending: Batch, managed: ManagedValues) -> FoundManaged:
    """Look up (and on PostgreSQL lock) the folder's secrets named as ``managed``'s keys:
    one statement per key, in key order (so that two writers lock in the same order)."""
    return FoundManaged(
        [
            sending.send(_MANAGED_FIND, {"folder_id": managed.folder_id, "key": key})
            for key in sorted(managed.values)
        ]
    )


@dataclass(frozen=True)
class ManagedWrites:
    """The new versions of managed secrets that already exist, and every version row."""

    bumped: list[dict[str, object]]
    versions: list[dict[str, object]]

    def send(self, sending: Batch) -> None:
        sending.send_many(_MANAGED_BUMP, self.bumped)
        sending.send_many(_INSERT_VERSIONS, self.versions)


def prepare_managed_writes(
    session: Session, keyring: KeyRing, managed: ManagedValues, found: Sequence[Any]
) -> ManagedWrites:
    """Check and seal what ``write_managed_secrets`` writes, given the rows the look-up
    ``found``; secrets new to the folder are inserted here and now, the rest is returned
    to be sent."""
    project_id, rotation_id = managed.project_id, managed.rotation_id
    existing_rows = {row.key: row for row in found}
    for key, row in existing_rows.items():
        if row.managed_by_rotation_id not in (None, rotation_id):
            raise SecretManagedByOtherRotation(key)
    scope = Scope.project(project_id)
    now = utcnow()
    created: list[dict[str, object]] = []
    bumped: list[dict[str, object]] = []
    versions: list[dict[str, object]] = []
    for key, value in managed.values.items():
        plain = value.encode("utf-8")
        existing = existing_rows.get(key)
        if existing is None:
            secret_id, version, comment = new_id(), 1, ""
            created.append(
                {
                    "id": secret_id,
                    "project_id": project_id,
                    "environment_id": managed.environment_id,
                    "folder_id": managed.folder_id,
                    "key": key,
                    "comment": comment,
                    "skip_multiline_encoding": False,
                    "version": version,
                    "managed_by_rotation_id": rotation_id,
                    "value_sealed": keyring.seal(session, scope, _secret_record(secret_id), plain),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        else:
            secret_id, version, comment = existing.id, existing.version + 1, existing.comment
            bumped.append(
                {
                    "b_id": secret_id,
                    "b_sealed": keyring.seal(session, scope, _secret_record(secret_id), plain),
                    "b_version": version,
                    "b_rotation": rotation_id,
                    "b_now": now,
                }
            )
        version_id = new_id()
        versions.append(
            {
                "id": version_id,
                "secret_id": secret_id,
                "version": version,
                "key": key,
                "comment": comment,
                "value_sealed": keyring.seal(session, scope, _version_record(version_id), plain),
                "created_at": now,
            }
        )
    if created:
        try:
            session.connection().execute(insert(Secret), created)
        except IntegrityError:
            # Another transaction created one of these keys in this folder first.
            raise SecretAlreadyExists(", ".join(str(c["key"]) for c in created)) from None
    return ManagedWrites(bumped, versions)


def rename_managed_secret(
    session: Session, *, rotation_id: str, old_key: str, new_key: str
) -> Secret | None:
    """Rename the secret that ``rotation_id`` writes as ``old_key`` to ``new_key``.

    A rename changes no value, so it adds no version. Idempotent: when only ``new_key``
    exists (already renamed) that secret is returned; when the rotation has written
    neither yet, nothing happens (None). Raises SecretAlreadyExists when another secret of
    the folder has ``new_key``.
    """
    managed = select(Secret).where(Secret.managed_by_rotation_id == rotation_id)
    secret = session.scalar(managed.where(Secret.key == old_key).with_for_update())
    if secret is None:
        return session.scalar(managed.where(Secret.key == new_key))
    if new_key == old_key:
        return secret
    if secret_exists(session, folder_id=secret.folder_id, key=new_key):
        raise SecretAlreadyExists(new_key)
    secret.key = new_key
    secret.updated_at = utcnow()
    session.flush()
    return secret


def delete_managed_secrets(session: Session, *, rotation_id: str) -> int:
    """Delete every secret that ``rotation_id`` writes (with their versions); the count."""
    result = session.execute(
        delete(Secret)
        .where(Secret.managed_by_rotation_id == rotation_id)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- reading for the API ----------------------------------------------------------------------


def _expands(plain: str, *, expand: bool, managed: bool) -> bool:
    """Whether a value is shown with its references expanded: when asked, unless written by
    a rotation, and when it has any."""
    return expand and not managed and has_references(plain)


class _ValueReader:
    """Opens values and, when asked, expands their references, looking referenced secrets up
    in the same project (any environment and folder) once per request."""

    def __init__(self, session: Session, keyring: KeyRing, *, project_id: str, expand: bool):
        self._session = session
        self._keyring = keyring
        self._project_id = project_id
        self._expand = expand
        self._folders: dict[tuple[str, str], dict[str, Secret]] = {}
        self._expander = ReferenceExpander(self._lookup)

    def present(self, plain: str, *, origin: SecretAddress, managed: bool) -> str:
        """``plain`` as the caller gets it: expanded when asked, unless rotation-written."""
        if not _expands(plain, expand=self._expand, managed=managed):
            return plain
        return self._expander.expand(plain, origin=origin)

    def value(self, secret: StoredSecret, *, environment: str, path: str) -> str:
        """The current value of ``secret``, presented."""
        plain = read_secret_value(self._session, self._keyring, secret)
        origin = SecretAddress(environment, path, secret.key)
        return self.present(plain, origin=origin, managed=secret.managed_by_rotation_id is not None)

    def _lookup(self, address: SecretAddress) -> ReferencedSecret | None:
        where = (address.environment, address.path)
        rows = self._folders.get(where)
        if rows is None:
            rows = {}
            env = self._session.scalar(
                select(Environment).where(
                    Environment.project_id == self._project_id,
                    Environment.slug == address.environment,
                )
            )
            folder = (
                find_folder(self._session, environment_id=env.id, path=address.path)
                if env
                else None
            )
            if folder is not None:
                found = self._session.scalars(select(Secret).where(Secret.folder_id == folder.id))
                rows = {row.key: row for row in found}
            self._folders[where] = rows
        secret = rows.get(address.key)
        if secret is None:
            return None
        return ReferencedSecret(
            value=read_secret_value(self._session, self._keyring, secret),
            expandable=secret.managed_by_rotation_id is None,
        )


def _view(
    secret: StoredSecret,
    *,
    environment: str,
    path: str,
    value: str | None,
    key: str | None = None,
    comment: str | None = None,
    version: int | None = None,
    updated_at: datetime | None = None,
) -> SecretView:
    return SecretView(
        id=secret.id,
        project_id=secret.project_id,
        environment=environment,
        secret_path=path,
        key=secret.key if key is None else key,
        value=value,
        comment=secret.comment if comment is None else comment,
        version=secret.version if version is None else version,
        skip_multiline_encoding=secret.skip_multiline_encoding,
        created_at=secret.created_at,
        updated_at=secret.updated_at if updated_at is None else updated_at,
    )


def list_secrets(
    session: Session,
    keyring: KeyRing,
    *,
    project_id: str,
    environment: str,
    secret_path: str,
    recursive: bool,
    reveal: bool,
    expand: bool,
) -> list[SecretView]:
    """The secrets of a folder (and, with ``recursive``, of every folder below it), ordered
    by path then key. An unknown path has none. Values are opened only when ``reveal``.

    Raises EnvironmentNotFound, and (with ``expand``) the reference errors (400).
    """
    env = get_environment(session, project_id=project_id, slug=environment)
    folders = folders_at(session, environment_id=env.id, path=secret_path, recursive=recursive)
    paths = {folder.id: folder.path for folder in folders}
    if not paths:
        return []
    rows = session.scalars(select(Secret).where(Secret.folder_id.in_(paths))).all()
    rows = sorted(rows, key=lambda row: (paths[row.folder_id], row.key))
    reader = _ValueReader(session, keyring, project_id=project_id, expand=expand)
    return [
        _view(
            row,
            environment=env.slug,
            path=paths[row.folder_id],
            value=reader.value(row, environment=env.slug, path=paths[row.folder_id])
            if reveal
            else None,
        )
        for row in rows
    ]


# Environment, folder and secret of a read in one statement: a row when the environment
# exists, with NULL secret columns when the folder or the secret does not.
_READ_SECRET = (
    select(
        Secret.id,
        Secret.project_id,
        Secret.key,
        Secret.value_sealed,
        Secret.comment,
        Secret.version,
        Secret.skip_multiline_encoding,
        Secret.managed_by_rotation_id,
        Secret.created_at,
        Secret.updated_at,
        Environment.slug,
    )
    .select_from(Environment)
    .outerjoin(
        Folder, and_(Folder.environment_id == Environment.id, Folder.path == bindparam("path"))
    )
    .outerjoin(Secret, and_(Secret.folder_id == Folder.id, Secret.key == bindparam("key")))
    .where(Environment.project_id == bindparam("project_id"), Environment.slug == bindparam("env"))
)
#: ``_READ_SECRET`` for the API's hot path (see ``db.reads.PreparedSelect``): the current
#: secret, with its environment's slug, by project, environment, path and key.
READ_SECRET_PREPARED = PreparedSelect(_READ_SECRET)


def secret_read_params(
    *, project_id: str, environment: str, secret_path: str, key: str
) -> dict[str, str]:
    """The parameters of ``READ_SECRET_PREPARED`` for one secret; InvalidSecretPath."""
    return {
        "project_id": project_id,
        "env": environment,
        "key": key,
        "path": canonical_path(secret_path),
    }


def secret_from_row(
    row: Sequence[Any] | None, *, environment: str, key: str
) -> tuple[str, SecretRecord]:
    """The environment's slug and the secret from a row of ``READ_SECRET_PREPARED``;
    EnvironmentNotFound or SecretNotFound when it has none."""
    if row is None:
        raise EnvironmentNotFound(environment)
    *columns, slug = row
    if columns[0] is None:
        raise SecretNotFound(key)
    return slug, SecretRecord(*columns)


def cached_secret_view(
    keyring: KeyRing,
    row: Sequence[Any] | None,
    *,
    environment: str,
    path: str,
    key: str,
    reveal: bool,
    expand: bool,
) -> SecretView | None:
    """``get_secret`` of the current value from its row, without reading anything else:
    None when that needs the database (a data key not cached, references to expand).

    Raises the same not-found errors as ``get_secret``.
    """
    slug, secret = secret_from_row(row, environment=environment, key=key)
    value = None
    if reveal:
        plain = keyring.open_cached(
            Scope.project(secret.project_id), _secret_record(secret.id), secret.value_sealed
        )
        if plain is None:
            return None
        value = plain.decode("utf-8")
        if _expands(value, expand=expand, managed=secret.managed_by_rotation_id is not None):
            return None
    return _view(secret, environment=slug, path=path, value=value)


def _read_secret(
    fetch: Callable[[Mapping[str, str]], Sequence[Any] | None],
    *,
    project_id: str,
    environment: str,
    secret_path: str,
    key: str,
) -> tuple[str, str, SecretRecord]:
    """The environment's slug, the canonical path and the secret, for reading, with
    ``fetch`` running ``_READ_SECRET``; raises EnvironmentNotFound, InvalidSecretPath,
    SecretNotFound (in ``_locate_secret``'s order)."""
    try:
        params = secret_read_params(
            project_id=project_id, environment=environment, secret_path=secret_path, key=key
        )
    except InvalidSecretPath:
        base = {"project_id": project_id, "env": environment, "key": key}
        if fetch({**base, "path": "/"}) is None:
            raise EnvironmentNotFound(environment) from None
        raise
    slug, secret = secret_from_row(fetch(params), environment=environment, key=key)
    return slug, params["path"], secret


def _fetch_in(conn: Connection, params: Mapping[str, str]) -> Sequence[Any] | None:
    return conn.execute(_READ_SECRET, params).first()


def _locate_secret(
    session: Session,
    *,
    project_id: str,
    environment: str,
    secret_path: str,
    key: str,
    for_update: bool = False,
) -> tuple[Environment, str, Secret]:
    env = get_environment(session, project_id=project_id, slug=environment)
    path = canonical_path(secret_path)
    folder = find_folder(session, environment_id=env.id, path=path)
    secret = (
        _find_secret(session, folder_id=folder.id, key=key, for_update=for_update)
        if folder is not None
        else None
    )
    if secret is None:
        raise SecretNotFound(key)
    return env, path, secret


def get_secret(
    source: Session | Connection | Database,
    keyring: KeyRing,
    *,
    project_id: str,
    environment: str,
    secret_path: str,
    key: str,
    version: int | None,
    reveal: bool,
    expand: bool,
) -> SecretView:
    """One secret, or one of its versions (its key, value and comment of then).

    ``source`` may be the Database (the API's hot path): the current value of a secret then
    takes one prepared statement on a driver connection and no ORM session; a version or an
    expansion of references opens a read session.

    Raises EnvironmentNotFound, SecretNotFound, SecretVersionNotFound, and (with
    ``expand``) the reference errors (400).
    """
    fetch: Callable[[Mapping[str, str]], Sequence[Any] | None]
    if isinstance(source, Database):
        fetch = partial(READ_SECRET_PREPARED.first, source)
    else:
        fetch = partial(_fetch_in, source.connection() if isinstance(source, Session) else source)
    slug, path, secret = _read_secret(
        fetch, project_id=project_id, environment=environment, secret_path=secret_path, key=key
    )
    if version is None:
        value = read_secret_value(source, keyring, secret) if reveal else None
        managed = secret.managed_by_rotation_id is not None
        if value is None or not _expands(value, expand=expand, managed=managed):
            return _view(secret, environment=slug, path=path, value=value)
    with _read_session(source) as session:
        return _secret_view(
            session,
            keyring,
            slug=slug,
            path=path,
            secret=secret,
            version=version,
            reveal=reveal,
            expand=expand,
        )


def _read_session(
    source: Session | Connection | Database,
) -> AbstractContextManager[Session]:
    if isinstance(source, Session):
        return nullcontext(source)
    if isinstance(source, Database):
        return source.read()
    return Session(bind=source)


def _secret_view(
    session: Session,
    keyring: KeyRing,
    *,
    slug: str,
    path: str,
    secret: SecretRecord,
    version: int | None,
    reveal: bool,
    expand: bool,
) -> SecretView:
    """The view of a located secret (or of one of its versions)."""
    key, project_id = secret.key, secret.project_id
    reader = _ValueReader(session, keyring, project_id=project_id, expand=expand)
    if version is None:
        value = reader.value(secret, environment=slug, path=path) if reveal else None
        return _view(secret, environment=slug, path=path, value=value)
    row = session.scalar(
        select(SecretVersion).where(
            SecretVersion.secret_id == secret.id, SecretVersion.version == version
        )
    )
    if row is None:
        raise SecretVersionNotFound(key, version)
    value = None
    if reveal:
        plain = _read_version_value(session, keyring, row, project_id=secret.project_id)
        value = reader.present(
            plain,
            origin=SecretAddress(slug, path, secret.key),
            managed=secret.managed_by_rotation_id is not None,
        )
    return _view(
        secret,
        environment=slug,
        path=path,
        value=value,
        key=row.key,
        comment=row.comment,
        version=row.version,
        updated_at=row.created_at,
    )


# --- writing for the API ----------------------------------------------------------------------


def create_secret(
    session: Session,
    keyring: KeyRing,
    *,
    project_id: str,
    environment: str,
    secret_path: str,
    key: str,
    value: str,
    comment: str,
    skip_multiline_encoding: bool,
    reveal: bool,
) -> SecretView:
    """Create a secret (version 1), making its folder path on demand.

    Raises EnvironmentNotFound, InvalidSecretPath, SecretAlreadyExists (also when a rotation
    manages a secret of that name).
    """
    env = get_environment(session, project_id=project_id, slug=environment)
    folder = ensure_folder(session, project_id=project_id, environment_id=env.id, path=secret_path)
    if secret_exists(session, folder_id=folder.id, key=key):
        raise SecretAlreadyExists(key)
    secret = _insert_secret(
        session,
        keyring,
        folder=folder,
        key=key,
        value=value,
        comment=comment,
        skip_multiline_encoding=skip_multiline_encoding,
        rotation_id=None,
    )
    return _view(secret, environment=env.slug, path=folder.path, value=value if reveal else None)


def update_secret(
    session: Session,
    keyring: KeyRing,
    *,
    project_id: str,
    environment: str,
    secret_path: str,
    key: str,
    new_key: str | None,
    value: str | None,
    comment: str | None,
    skip_multiline_encoding: bool | None,
    reveal: bool,
) -> SecretView:
    """Change a secret's value, comment, flag and/or name (None = keep); a new version.

    Raises SecretNotFound, SecretManagedByRotation (a rotation writes it), and
    SecretAlreadyExists when ``new_key`` is taken in the folder.
    """
    env, path, secret = _locate_secret(
        session,
        project_id=project_id,
        environment=environment,
        secret_path=secret_path,
        key=key,
        for_update=True,
    )
    if secret.managed_by_rotation_id is not None:
        raise SecretManagedByRotation()
    if new_key is not None and new_key != secret.key:
        if secret_exists(session, folder_id=secret.folder_id, key=new_key):
            raise SecretAlreadyExists(new_key)
        secret.key = new_key
    plain = value if value is not None else read_secret_value(session, keyring, secret)
    if comment is not None:
        secret.comment = comment
    if skip_multiline_encoding is not None:
        secret.skip_multiline_encoding = skip_multiline_encoding
    _bump(session, keyring, secret, plain)
    return _view(secret, environment=env.slug, path=path, value=plain if reveal else None)


def delete_secret(
    session: Session,
    keyring: KeyRing,
    *,
    project_id: str,
    environment: str,
    secret_path: str,
    key: str,
    reveal: bool,
) -> SecretView:
    """Delete a secret with its versions; returns it as it was.

    Raises SecretNotFound and SecretManagedByRotation.
    """
    env, path, secret = _locate_secret(
        session,
        project_id=project_id,
        environment=environment,
        secret_path=secret_path,
        key=key,
        for_update=True,
    )
    if secret.managed_by_rotation_id is not None:
        raise SecretManagedByRotation()
    value = read_secret_value(session, keyring, secret) if reveal else None
    view = _view(secret, environment=env.slug, path=path, value=value)
    session.delete(secret)
    session.flush()
    return view
