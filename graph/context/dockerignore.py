""".dockerignore files as BuildKit reads them (moby/patternmatcher's ``ignorefile.ReadAll``).

Which paths the patterns leave out is graph.context.matcher's job; every pattern is vetted here as
patternmatcher.New vets it, so that one Docker always refuses is reported with its file and line.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from graph.context.matcher import GO_SPACE, clean_path, compile_pattern, is_ignored
from graph.errors import Location, StackError

__all__ = ["MAX_IGNORE_FILE", "clean_path", "ignore_file", "is_ignored", "parse_ignore_line",
           "read_ignore_patterns"]

MAX_IGNORE_FILE = 1024 * 1024


# --- reading ignore files -----------------------------------------------------------------------


def ignore_file(context_dir: Path, dockerfile: Path) -> Path | None:
    """The one ignore file BuildKit reads: <Dockerfile>.dockerignore beside it, else <context>/.dockerignore.

    The other is shadowed: BuildKit's dockerfile frontend reads <context>/.dockerignore only when the
    Dockerfile has no ignore file of its own, so no line of it applies.
    """
    for candidate in (dockerfile.parent / f"{dockerfile.name}.dockerignore", context_dir / ".dockerignore"):
        if os.path.lexists(candidate):  # a dangling symlink is refused when read, not skipped
            return candidate
    return None


def read_ignore_patterns(context_dir: Path, dockerfile: Path) -> tuple[str, ...]:
    """BuildKit's ignore patterns: those of ignore_file, none without one."""
    path = ignore_file(context_dir, dockerfile)
    return () if path is None else _read_ignore_file(path)


def _read_ignore_file(path: Path) -> tuple[str, ...]:
    """The patterns of one ignore file, each checked so that a bad line is reported with its line number."""
    text = _ignore_file_text(path)
    patterns: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        pattern = parse_ignore_line(line.removeprefix("\ufeff") if number == 1 else line)
        if pattern is None:
            continue
        try:
            compile_pattern(pattern)
        except StackError as err:
            raise StackError(err.message, Location(str(path), number), err.hint) from err
        patterns.append(pattern)
    return tuple(patterns)


def _ignore_file_text(path: Path) -> str:
    """The text of a regular ignore file of at most MAX_IGNORE_FILE bytes; never a symlink, FIFO or device."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise StackError(f"{path.name} is a symlink, which stackbuild does not follow",
                             Location(str(path)), "replace it with a regular file") from None
        raise StackError(f"cannot read {path}: {err.strerror or err}", hint="make it readable") from err
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StackError(f"{path.name} is not a regular file", Location(str(path)),
                         "replace it with a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_IGNORE_FILE + 1)
    if len(data) > MAX_IGNORE_FILE:
        raise StackError(f"{path.name} is larger than {MAX_IGNORE_FILE} bytes", Location(str(path)),
                         "keep ignore files small: use '**' patterns instead of listing files")
    return data.decode("utf-8", "surrogateescape")


def parse_ignore_line(line: str) -> str | None:
    """One line as ignorefile.ReadAll normalises it, or None for comments and blank lines."""
    if line.startswith("#"):
        return None
    pattern = line.strip(GO_SPACE)
    if not pattern:
        return None
    invert = pattern.startswith("!")
    if invert:
        pattern = pattern[1:].strip(GO_SPACE)
    if pattern:
        pattern = clean_path(pattern)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern[1:]
    return "!" + pattern if invert else pattern
