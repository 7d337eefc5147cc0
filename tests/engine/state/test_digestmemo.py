"""The file digest memo in the state folder: round trip, racy files left out, bad files ignored."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from engine.state.digestmemo import MEMO_FILE, RACY_S, load_memo, save_memo
from graph.context.files import DigestMemo, list_context


@pytest.fixture
def context(tmp_path: Path) -> Path:
    folder = tmp_path / "ctx"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / name).write_text(name, encoding="utf-8")
        os.utime(folder / name, ns=(1_000_000_000, 1_000_000_000))
    return folder


def test_a_saved_memo_spares_reading_the_files_next_time(tmp_path: Path, context: Path) -> None:
    memo = DigestMemo()
    list_context(context, (), memo)
    save_memo(tmp_path, memo, now_ns=time.time_ns() + int(10 * RACY_S * 1e9))
    again = load_memo(tmp_path)
    assert list_context(context, (), again) == list_context(context, ())
    assert again.read == 0


def test_an_unchanged_memo_is_not_written_again(tmp_path: Path, context: Path) -> None:
    memo = DigestMemo()
    list_context(context, (), memo)
    save_memo(tmp_path, memo, now_ns=time.time_ns() + int(10 * RACY_S * 1e9))
    written = (tmp_path / MEMO_FILE).stat().st_ino  # a rewrite is a new file renamed over it
    again = load_memo(tmp_path)
    list_context(context, (), again)
    save_memo(tmp_path, again, now_ns=time.time_ns() + int(10 * RACY_S * 1e9))
    assert (tmp_path / MEMO_FILE).stat().st_ino == written
    (context / "c").write_text("c", encoding="utf-8")  # a new file: read, so the memo is written
    more = load_memo(tmp_path)
    list_context(context, (), more)
    save_memo(tmp_path, more, now_ns=time.time_ns() + int(10 * RACY_S * 1e9))
    assert str(context / "c") in json.loads((tmp_path / MEMO_FILE).read_text(encoding="utf-8"))["files"]


def test_files_changed_just_before_the_save_are_not_kept(tmp_path: Path, context: Path) -> None:
    memo = DigestMemo()
    list_context(context, (), memo)  # their change times are now: racy
    save_memo(tmp_path, memo)
    assert json.loads((tmp_path / MEMO_FILE).read_text(encoding="utf-8"))["files"] == {}
    assert load_memo(tmp_path).known == {}


@pytest.mark.parametrize("content", [
    b"not json", b"\xff\xfe", b"[" * 100_000, b'{"format": "other", "files": {}}',
    b'{"format": "stackbuild-file-digests-v1", "files": {"/x": [1, 2, 3]}}',
    b'{"format": "stackbuild-file-digests-v1", "files": {"/x": [1, 2, 3, 4, "5", "sha256:"]}}',
    b'{"format": "stackbuild-file-digests-v1", "files": []}',
])
def test_a_bad_memo_is_an_empty_one(tmp_path: Path, content: bytes) -> None:
    (tmp_path / MEMO_FILE).write_bytes(content)
    assert load_memo(tmp_path).known == {}


def test_a_planted_symlink_or_folder_is_ignored_and_a_symlink_replaced(tmp_path: Path, context: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("keep", encoding="utf-8")
    (tmp_path / MEMO_FILE).symlink_to(secret)
    assert load_memo(tmp_path).known == {}
    memo = DigestMemo()
    list_context(context, (), memo)
    save_memo(tmp_path, memo, now_ns=time.time_ns() + int(10 * RACY_S * 1e9))
    assert secret.read_text(encoding="utf-8") == "keep"
    assert not (tmp_path / MEMO_FILE).is_symlink()
    (tmp_path / MEMO_FILE).unlink()
    (tmp_path / MEMO_FILE).mkdir()
    assert load_memo(tmp_path).known == {}
    save_memo(tmp_path, memo)  # a warning, not an error
