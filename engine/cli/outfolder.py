"""Writing and removing below `export meta`'s output folder without following a symbolic link inside it.

A folder inside the output folder that is a link (`openeuler-ai/cann -> /somewhere/else`) would take a
write or a removal outside it, so the export checks every path it will touch first and stops, having
touched nothing, when one passes through a link. A file it writes that is itself a link is replaced,
never written through. (The output folder itself may be a link: the person running the export named it.)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from engine.cli.options import OptionError

LINK_HINT = "remove the link or make it a real folder, or name another --out"


def linked_folder(out_dir: Path, relative: PurePosixPath) -> Path | None:
    """The first folder on the way from out_dir to the file relative that is a symbolic link, else None."""
    folder = out_dir
    for part in relative.parts[:-1]:
        folder = folder / part
        if folder.is_symlink():
            return folder
    return None


def refuse_links(out_dir: Path, writes: Iterable[PurePosixPath], removals: Iterable[PurePosixPath]) -> None:
    """OptionError naming the first link a write or a removal would pass through."""
    for verb, paths in (("writes", writes), ("removes", removals)):
        for relative in sorted(paths):
            if (link := linked_folder(out_dir, relative)) is not None:
                raise OptionError(f"--out: {link} is a symbolic link inside the output folder; export meta "
                                  f"{verb} {relative} through it and never writes or removes a file "
                                  "through a link", LINK_HINT)


def refuse_obstacles(out_dir: Path, writes: Iterable[PurePosixPath],
                     removals: Iterable[PurePosixPath]) -> None:
    """OptionError naming the first write a folder stands in the place of, or a file stands on the way to,
    that the export does not remove first."""
    removed = set(removals)
    for relative in sorted(writes):
        target = out_dir / relative
        if target.is_dir() and not target.is_symlink() and _stays(out_dir, target, removed):
            raise OptionError(f"--out: {target} is a folder, where export meta writes a file",
                              "remove or rename that folder, or name another --out")
        on_the_way = (PurePosixPath(*relative.parts[:depth]) for depth in range(1, len(relative.parts)))
        blocker = next((way for way in on_the_way if way not in removed and (out_dir / way).is_file()), None)
        if blocker is not None:
            raise OptionError(f"--out: {out_dir / blocker} is a file, where export meta needs a folder for "
                              f"{relative}", "remove or rename that file, or name another --out")


def _stays(out_dir: Path, folder: Path, removed: set[PurePosixPath]) -> bool:
    """Whether folder stays once the export removed its stale files (it removes the folders they empty)."""
    below = [PurePosixPath(path.relative_to(out_dir).as_posix()) for path in folder.rglob("*")
             if not path.is_dir() or path.is_symlink()]
    return not below or any(path not in removed for path in below)


def fresh_file(target: Path) -> Path:
    """target with its folder made and whatever file or link was there removed: ready to be written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.is_file():
        target.unlink()
    return target
