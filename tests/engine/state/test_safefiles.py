"""state.safefiles: state files are never followed through symlinks, never FIFOs or devices, bounded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.state.lockfile import LockEntry, merge_entries, write_lockfile
from engine.state.safefiles import StateError, read_bounded, state_folder, write_atomic

SECRET = "precious contents\n"
DIGEST = "sha256:" + "b" * 64


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "precious.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


def test_write_atomic_replaces_a_symlink_at_the_path_not_its_target(tmp_path: Path, target: Path) -> None:
    path = tmp_path / "latest.lock.json"
    path.symlink_to(target)
    write_atomic(path, "new\n")
    assert not path.is_symlink()
    assert path.read_text(encoding="utf-8") == "new\n"
    assert target.read_text(encoding="utf-8") == SECRET


def test_write_atomic_ignores_a_planted_temporary_symlink(tmp_path: Path, target: Path) -> None:
    path = tmp_path / "latest.lock.json"
    (tmp_path / f".latest.lock.json.{os.getpid()}.tmp").symlink_to(target)
    write_atomic(path, "new\n")
    assert path.read_text(encoding="utf-8") == "new\n"
    assert target.read_text(encoding="utf-8") == SECRET
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.lock.json", "precious.txt"]


def test_write_atomic_over_a_folder_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "latest.lock.json").mkdir()
    with pytest.raises(StateError, match=r"latest\.lock\.json is a folder, not a regular file"):
        write_atomic(tmp_path / "latest.lock.json", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["latest.lock.json"]


def test_read_bounded_refuses_a_symlink_unless_asked_to_follow(tmp_path: Path, target: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(StateError) as caught:
        read_bounded(link)
    assert caught.value.reason == "it is a symlink"
    assert read_bounded(link, follow_symlinks=True) == SECRET.encode()


def test_read_bounded_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(StateError) as caught:
        read_bounded(tmp_path / "fifo")
    assert caught.value.reason == "it is a FIFO, not a regular file"


def test_read_bounded_refuses_more_than_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 11)
    assert read_bounded(tmp_path / "big", limit=11) == b"x" * 11
    with pytest.raises(StateError) as caught:
        read_bounded(tmp_path / "big", limit=10)
    assert caught.value.reason == "it is larger than 10 bytes"
    with pytest.raises(StateError) as caught:
        read_bounded(Path("/dev/zero"), follow_symlinks=True)
    assert caught.value.reason == "it is a device, not a regular file"


def test_state_folder_is_created_when_missing_and_refused_when_odd(tmp_path: Path, target: Path) -> None:
    assert state_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    with pytest.raises(StateError, match="is a symlink"):
        state_folder(tmp_path / "link")
    with pytest.raises(StateError, match="is not a folder"):
        state_folder(target)
    with pytest.raises(StateError, match="cannot create the state folder"):
        state_folder(target / "below")
    assert target.read_text(encoding="utf-8") == SECRET


def test_a_symlinked_previous_lockfile_is_replaced_not_read(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    entry = LockEntry("a", "localhost:5000/x/a:1", "f", DIGEST)
    write_lockfile(elsewhere, "old", [LockEntry("b", "localhost:5000/x/b:1", "f", DIGEST)])
    latest = tmp_path / "latest.lock.json"
    latest.symlink_to(elsewhere)
    assert merge_entries(latest, [entry], {"a", "b"}) == [entry]  # the linked entries of b are not merged
    before = elsewhere.read_text(encoding="utf-8")
    write_lockfile(latest, "new", [entry])
    assert elsewhere.read_text(encoding="utf-8") == before
    assert not latest.is_symlink()


def test_json_text_is_indented_for_small_documents_and_compact_for_large_ones() -> None:
    from engine.state.safefiles import LARGE_DOCUMENT, json_text

    small = {"nodes": {"a": {"digest": "sha256:1"}}}
    assert json_text(small, 1) == json.dumps(small, indent=2) + "\n"
    large = {"nodes": {f"n{index}": {"digest": "sha256:1"} for index in range(LARGE_DOCUMENT + 1)}}
    text = json_text(large, LARGE_DOCUMENT + 1)
    assert "\n" not in text.rstrip("\n") and json.loads(text) == large


def test_plain_is_a_one_level_copy_of_a_dataclass() -> None:
    from dataclasses import dataclass, field

    from engine.state.safefiles import plain

    @dataclass
    class Record:
        name: str
        tags: dict[str, str] = field(default_factory=dict)

    record = Record("a", {"x": "1"})
    assert plain(record) == {"name": "a", "tags": {"x": "1"}}
