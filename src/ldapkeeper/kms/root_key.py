"""Loading, generating and fingerprinting the 256-bit root key."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ldapkeeper.kms.errors import RootKeyInvalid

ROOT_KEY_FILE = "root.key"


@dataclass(frozen=True)
class RootKey:
    """A root key; ``key_id`` is a fingerprint that names it in wrapped data keys."""

    material: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"ldapkeeper-root-key-id:" + self.material).hexdigest()[:32]


def parse_root_key(text: str) -> RootKey:
    """Parse base64 text of 32 bytes; raises RootKeyInvalid otherwise."""
    try:
        material = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RootKeyInvalid("root key is not valid base64") from exc
    if len(material) != 32:
        raise RootKeyInvalid("root key must be 32 bytes (256 bits)")
    return RootKey(material)


def generate_root_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def write_key_file(path: Path, text: str, *, replace: bool = True) -> None:
    """Write a key file with mode 0600, atomically (never a partly written key).

    With ``replace=False`` an existing file is kept and FileExistsError raised (two
    processes starting together must end up with one key, not two).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp: a fresh 0600 file under a unique name, whatever a crash left behind.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_or_create_root_key(configured: str | None, data_dir: Path) -> RootKey:
    """The configured key, else the data directory's key file, created on first start."""
    if configured:
        return parse_root_key(configured)
    path = data_dir / ROOT_KEY_FILE
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            write_key_file(path, generate_root_key_text(), replace=False)
    return parse_root_key(path.read_text())
