"""The file digest memo in the state folder: context files an earlier run hashed are not read again.

It is a cache: a missing, unreadable or malformed memo is an empty one (a warning, never an error),
and what is saved holds only the files this run saw. A file changed within RACY_S of the save is
left out, so a write in the same clock tick as the hashing is never mistaken for no change.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import structlog

from engine.state.safefiles import StateError, read_bounded, write_atomic
from graph.context.files import DigestMemo, StatKey

log = structlog.get_logger()
MEMO_FILE = "file-digests.json"
FORMAT = "stackbuild-file-digests-v1"
RACY_S = 2.0


def load_memo(state: Path) -> DigestMemo:
    """The memo saved in the state folder; an empty one when there is none or it cannot be used."""
    path = state / MEMO_FILE
    if not path.exists() and not path.is_symlink():
        return DigestMemo()
    try:
        data = json.loads(read_bounded(path))
        return DigestMemo(_entries(data))
    except (StateError, OSError, ValueError, RecursionError) as exc:
        log.warning("file_digest_memo_ignored", node="*", path=str(path), reason=str(exc)[:200],
                    hint="it is only a cache: every context file is read again, and it is rewritten")
        return DigestMemo()


def _entries(data: Any) -> dict[str, tuple[StatKey, str]]:
    """path → (stat key, digest) from the saved document; ValueError when it is not one."""
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
        raise ValueError(f"not a {FORMAT} document")
    entries: dict[str, tuple[StatKey, str]] = {}
    for path, value in data["files"].items():
        if not (isinstance(value, list) and len(value) == 6 and all(type(part) is int for part in value[:5])
                and isinstance(value[5], str) and value[5].startswith("sha256:") and len(value[5]) == 71):
            raise ValueError(f"malformed entry for {path!r}")
        entries[path] = ((value[0], value[1], value[2], value[3], value[4]), value[5])
    return entries


def save_memo(state: Path, memo: DigestMemo, now_ns: int | None = None) -> None:
    """Keep what this run saw, but for files changed within RACY_S of now (read again next time);
    nothing is written when every file was known and no known one is gone."""
    if not memo.seen or (memo.read == 0 and memo.seen.keys() == memo.known.keys()):
        return
    limit = (time.time_ns() if now_ns is None else now_ns) - int(RACY_S * 1e9)
    files = {path: [*key, digest] for path, (key, digest) in sorted(memo.seen.items())
             if key[3] < limit and key[4] < limit}
    document = json.dumps({"format": FORMAT, "files": files}, separators=(",", ":"))
    try:
        write_atomic(state / MEMO_FILE, document + "\n")
    except StateError as exc:
        log.warning("file_digest_memo_not_saved", node="*", reason=str(exc)[:200])
