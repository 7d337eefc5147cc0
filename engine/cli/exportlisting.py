"""The files one `export meta` wrote, listed in its output folder so the next export removes the stale ones.

Only listed files are ever removed, so what a person put beside the export (notes, or a README the
export then keeps instead of writing its own) stays. The listing is read as untrusted: an entry that
is absolute or climbs with `..` is ignored, and one that passes through a symbolic link stops the
export (engine.cli.outfolder) before anything is removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import structlog

from engine.cli.options import OptionError
from engine.cli.outfolder import linked_folder
from engine.state.safefiles import StateError, read_bounded, write_atomic

LISTING = ".stackbuild-export-meta.json"
FORMAT = "stackbuild-export-meta-v1"
MAX_LISTING_BYTES = 64 * 1024 * 1024

log = structlog.get_logger()


def previous_files(out_dir: Path) -> list[PurePosixPath]:
    """The relative paths the last export into out_dir wrote ([] without a readable listing); OptionError
    when a folder stands where the listing goes (the export would write everything, then fail on it)."""
    path = out_dir / LISTING
    if path.is_dir() and not path.is_symlink():
        raise OptionError(f"--out: {path} is a folder, where export meta writes a file (its listing of "
                          "what it wrote)", "remove or rename that folder, or name another --out")
    if not path.exists() and not path.is_symlink():
        return []
    try:
        document = json.loads(read_bounded(path, MAX_LISTING_BYTES))
    except (StateError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        log.warning("export_listing_ignored", node="*", path=str(path), error=reason)
        return []
    files = document.get("files") if isinstance(document, dict) and document.get("format") == FORMAT else None
    if not isinstance(files, list):
        log.warning("export_listing_ignored", node="*", path=str(path), error="not a listing of this tool")
        return []
    return [PurePosixPath(entry) for entry in files if isinstance(entry, str) and _plain(entry)]


def _plain(entry: str) -> bool:
    """Whether entry is a relative path below the folder: no `..`, not absolute, no empty part."""
    path = PurePosixPath(entry)
    return bool(entry) and not path.is_absolute() and ".." not in path.parts and "\\" not in entry \
        and "\0" not in entry and path.as_posix() == entry


def remove_stale(out_dir: Path, stale: Iterable[PurePosixPath]) -> int:
    """Remove the previously written files not written again, then their folders left empty; the count."""
    removed = 0
    for relative in stale:
        if not _inside_without_links(out_dir, relative):
            continue
        target = out_dir / relative
        if target.is_symlink() or target.is_file():
            target.unlink()
            removed += 1
            _prune_empty_folders(out_dir, relative.parent)
    return removed


def _inside_without_links(out_dir: Path, relative: PurePosixPath) -> bool:
    """Whether every folder on the way from out_dir to relative is a real folder, not a link (the export
    refused links already: this keeps the removal safe on its own)."""
    return linked_folder(out_dir, relative) is None and (out_dir / relative).parent.is_dir()


def _prune_empty_folders(out_dir: Path, relative: PurePosixPath) -> None:
    """Remove relative's folders, deepest first, while they are empty (never out_dir itself)."""
    while relative.parts:
        try:
            os.rmdir(out_dir / relative)
        except OSError:  # not empty (or already gone): stop
            return
        relative = relative.parent


def write_listing(out_dir: Path, written: set[PurePosixPath]) -> None:
    """Record what this export wrote."""
    document = {"format": FORMAT, "files": sorted(path.as_posix() for path in written)}
    write_atomic(out_dir / LISTING, json.dumps(document, indent=1) + "\n")
