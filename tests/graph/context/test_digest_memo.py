"""DigestMemo: a context file an earlier run hashed is not read again unless it changed."""

from __future__ import annotations

import os
from pathlib import Path

from graph.context.files import DigestMemo, list_context


def _context(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n", encoding="utf-8")
    (root / "sub" / "b.bin").write_bytes(b"\0" * 4096)
    return root


def test_unchanged_files_are_not_read_again_and_digests_are_the_same(tmp_path: Path) -> None:
    context = _context(tmp_path / "ctx")
    plain = list_context(context, ())
    first = DigestMemo()
    assert list_context(context, (), first) == plain
    assert first.read == 2
    second = DigestMemo(first.seen)
    assert list_context(context, (), second) == plain
    assert second.read == 0
    assert second.seen == first.seen


def test_a_rewrite_with_the_same_size_and_modification_time_is_read_again(tmp_path: Path) -> None:
    context = _context(tmp_path / "ctx")
    memo = DigestMemo()
    list_context(context, (), memo)
    target = context / "a.txt"
    before = target.stat()
    target.write_text("omega\n", encoding="utf-8")  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # same modification time, new change time
    again = DigestMemo(memo.seen)
    files = {item.path: item.digest for item in list_context(context, (), again)}
    assert again.read == 1
    assert files == {item.path: item.digest for item in list_context(context, ())}


def test_a_remembered_digest_counts_only_for_the_same_file(tmp_path: Path) -> None:
    context = _context(tmp_path / "ctx")
    memo = DigestMemo()
    list_context(context, (), memo)
    zeros = "sha256:" + "0" * 64
    forged = {path: (key, zeros) for path, (key, _) in memo.seen.items()}
    planted = {path: ((0, 0, 0, 0, 0), digest) for path, (_, digest) in forged.items()}
    assert DigestMemo(forged).digest(str(context / "a.txt"), (context / "a.txt").lstat()) == zeros  # trusted
    other = DigestMemo(planted)
    assert list_context(context, (), other) == list_context(context, ())  # other keys: read, not believed
    assert other.read == 2
