import base64
import stat
import threading
from pathlib import Path

import pytest

from ldapkeeper.kms.errors import RootKeyInvalid
from ldapkeeper.kms.root_key import (
    ROOT_KEY_FILE,
    generate_root_key_text,
    load_or_create_root_key,
    parse_root_key,
    write_key_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_generates_a_key_file_readable_by_the_owner_only(tmp_path: Path) -> None:
    load_or_create_root_key(None, tmp_path)
    assert _mode(tmp_path / ROOT_KEY_FILE) == 0o600


def test_generated_key_file_is_reused(tmp_path: Path) -> None:
    first = load_or_create_root_key(None, tmp_path)
    second = load_or_create_root_key(None, tmp_path)
    assert first.material == second.material


def test_generated_key_is_32_random_bytes(tmp_path: Path) -> None:
    first = load_or_create_root_key(None, tmp_path / "a")
    other = load_or_create_root_key(None, tmp_path / "b")
    assert len(first.material) == 32
    assert first.material != other.material


def test_configured_key_wins_over_the_key_file(tmp_path: Path) -> None:
    load_or_create_root_key(None, tmp_path)
    configured = generate_root_key_text()
    key = load_or_create_root_key(configured, tmp_path)
    assert key.material == base64.b64decode(configured)


def test_configured_key_creates_no_key_file(tmp_path: Path) -> None:
    load_or_create_root_key(generate_root_key_text(), tmp_path)
    assert not (tmp_path / ROOT_KEY_FILE).exists()


def test_key_file_is_0600_even_over_a_stale_world_readable_temp_file(tmp_path: Path) -> None:
    stale = tmp_path / (ROOT_KEY_FILE + ".tmp")
    stale.write_text("left over from a crash\n")
    stale.chmod(0o644)
    write_key_file(tmp_path / ROOT_KEY_FILE, generate_root_key_text())
    assert _mode(tmp_path / ROOT_KEY_FILE) == 0o600


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 at all!",
        base64.b64encode(b"\x00" * 16).decode(),
        base64.b64encode(b"\x00" * 33).decode(),
    ],
    ids=["empty", "not-base64", "16-bytes", "33-bytes"],
)
def test_invalid_root_key_is_rejected(text: str) -> None:
    with pytest.raises(RootKeyInvalid):
        parse_root_key(text)


def test_root_key_error_message_does_not_echo_the_key() -> None:
    text = base64.b64encode(b"canary-canary-canary").decode()
    with pytest.raises(RootKeyInvalid) as caught:
        parse_root_key(text)
    assert text not in str(caught.value)


def test_root_key_text_with_surrounding_whitespace_parses() -> None:
    text = generate_root_key_text()
    assert parse_root_key(f"  {text}\n").material == base64.b64decode(text)


def test_key_id_names_the_key_without_revealing_it() -> None:
    key = parse_root_key(generate_root_key_text())
    other = parse_root_key(generate_root_key_text())
    assert key.key_id == parse_root_key(base64.b64encode(key.material).decode()).key_id
    assert key.key_id != other.key_id
    assert key.material.hex() not in key.key_id


def test_root_key_repr_hides_the_material() -> None:
    key = parse_root_key(generate_root_key_text())
    assert key.material.hex() not in repr(key)
    assert str(key.material) not in repr(key)


def test_processes_starting_together_end_up_with_one_root_key(tmp_path: Path) -> None:
    start = threading.Barrier(16)
    keys: list[bytes] = []

    def first_start() -> None:
        start.wait()
        keys.append(load_or_create_root_key(None, tmp_path).material)

    threads = [threading.Thread(target=first_start) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 16
    assert set(keys) == {parse_root_key((tmp_path / ROOT_KEY_FILE).read_text()).material}


def test_writing_a_key_file_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_key_file(tmp_path / ROOT_KEY_FILE, generate_root_key_text())
    assert [p.name for p in tmp_path.iterdir()] == [ROOT_KEY_FILE]


def test_existing_key_file_is_kept_when_replace_is_off(tmp_path: Path) -> None:
    path = tmp_path / ROOT_KEY_FILE
    first = generate_root_key_text()
    write_key_file(path, first)
    with pytest.raises(FileExistsError):
        write_key_file(path, generate_root_key_text(), replace=False)
    assert path.read_text().strip() == first
