"""Build contexts as BuildKit sees them: .dockerignore rules, the visible files and their fingerprint.

Pattern semantics follow moby/patternmatcher (``New`` + ``MatchesOrParentMatches``) and the parsing of
``ignorefile.ReadAll``, including their quirks, so that a fingerprint changes exactly when the files a
build can COPY change.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import re
import stat
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from graph.errors import Location, StackError

SYMLINK_MODE = 0o120000
EXECUTABLE_MODE = 0o755
REGULAR_MODE = 0o644
_ENCODING_HEADER = b"stackbuild-context-v1\n"
_SYMLINK_PREFIX = b"symlink\0"
# Go's unicode.IsSpace (strings.TrimSpace), which differs from str.strip() on \x1c-\x1f.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_REGEXP_ESCAPED = ".+()|{}$"
_PATTERN_HINT = "dockerignore patterns use Go filepath.Match syntax plus '**' (docs.docker.com: dockerignore)"


@dataclass(frozen=True)
class ContextFile:
    """One file of a build context: POSIX path from the context root, content digest and normalised mode."""

    path: str
    digest: str
    mode: int


@dataclass(frozen=True)
class _Pattern:
    """A compiled ignore pattern: moby's match kind, its cleaned text and (for 'regexp') the expression."""

    text: str
    exclusion: bool
    kind: str
    regexp: re.Pattern[str] | None


# --- reading ignore files -----------------------------------------------------------------------


def read_ignore_patterns(context_dir: Path, dockerfile: Path) -> tuple[str, ...]:
    """BuildKit's ignore patterns: <Dockerfile>.dockerignore beside it wins over <context>/.dockerignore."""
    for candidate in (dockerfile.parent / f"{dockerfile.name}.dockerignore", context_dir / ".dockerignore"):
        if candidate.exists():
            return _read_ignore_file(candidate)
    return ()


def _read_ignore_file(path: Path) -> tuple[str, ...]:
    """The patterns of one ignore file, each checked so that a bad line is reported with its line number."""
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as err:
        raise StackError(f"cannot read {path}: {err.strerror or err}", hint="make it readable") from err
    patterns: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        pattern = _parse_ignore_line(line.removeprefix("\ufeff") if number == 1 else line)
        if pattern is None:
            continue
        try:
            _compile(pattern)
        except StackError as err:
            raise StackError(err.message, Location(str(path), number), err.hint) from err
        patterns.append(pattern)
    return tuple(patterns)


def _parse_ignore_line(line: str) -> str | None:
    """One line as ignorefile.ReadAll normalises it, or None for comments and blank lines."""
    if line.startswith("#"):
        return None
    pattern = line.strip(_GO_SPACE)
    if not pattern:
        return None
    invert = pattern.startswith("!")
    if invert:
        pattern = pattern[1:].strip(_GO_SPACE)
    if pattern:
        pattern = _clean(pattern)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern[1:]
    return "!" + pattern if invert else pattern


def _clean(path: str) -> str:
    """Go's filepath.Clean on a POSIX path."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


# --- compiling patterns -------------------------------------------------------------------------


def _compile(raw: str) -> _Pattern | None:
    """One pattern as patternmatcher.New compiles it (None when blank); StackError when malformed."""
    text = raw.strip(_GO_SPACE)
    if not text:
        return None
    text = _clean(text)
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise StackError('illegal exclusion pattern: "!"', hint="write the path to re-include after '!'")
        text = text[1:]
    if not _syntax_ok(text):
        raise StackError(f"malformed ignore pattern {raw!r}", hint=_PATTERN_HINT)
    kind, body = _translate(text)
    return _Pattern(text, exclusion, kind, _regexp(raw, body) if kind == "regexp" else None)


def _regexp(raw: str, body: str) -> re.Pattern[str]:
    """The compiled expression of a pattern (Go RE2 and Python agree on what moby emits)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(body)
    except re.error as err:
        raise StackError(f"malformed ignore pattern {raw!r}: {err}", hint=_PATTERN_HINT) from err


def _translate(pattern: str) -> tuple[str, str]:
    """moby's Pattern.compile: the match kind ('exact', 'prefix', 'suffix', 'regexp') and expression body."""
    parts: list[str] = []
    kind, pos, end = "exact", 0, len(pattern)
    while pos < end:
        start, char = pos, pattern[pos]
        pos += 1
        if char == "*" and pattern.startswith("*", pos):
            pos += 2 if pattern.startswith("/", pos + 1) else 1
            if pos < end:
                parts.append("(.*/)?")
                kind = "regexp"
            elif kind == "exact":
                kind = "prefix"
            else:
                parts.append(".*")
                kind = "regexp"
            kind = "suffix" if start == 0 else kind
        elif char in "*?[]":
            parts.append({"*": "[^/]*", "?": "[^/]"}.get(char, char))
            kind = "regexp"
        elif char == "\\":
            parts.append("\\" + pattern[pos])
            pos += 1
            kind = "regexp"
        else:
            parts.append("\\" + char if char in _REGEXP_ESCAPED else char)
    return kind, "".join(parts)


def _syntax_ok(pattern: str) -> bool:
    """Whether Go's filepath.Match accepts pattern (escapes complete, character classes well formed)."""
    pos, end = 0, len(pattern)
    while pos < end:
        if pattern[pos] == "\\":
            if pos + 1 >= end:
                return False
            pos += 2
        elif pattern[pos] == "[":
            pos = _class_end(pattern, pos + 1)
            if pos < 0:
                return False
        else:
            pos += 1
    return True


def _class_end(pattern: str, pos: int) -> int:
    """The index after the ']' closing a character class whose body starts at pos, or -1 if malformed."""
    if pattern.startswith("^", pos):
        pos += 1
    ranges = 0
    while True:
        if ranges and pattern.startswith("]", pos):
            return pos + 1
        pos = _class_char(pattern, pos)
        if pos >= 0 and pattern.startswith("-", pos):
            pos = _class_char(pattern, pos + 1)
        if pos < 0:
            return -1
        ranges += 1


def _class_char(pattern: str, pos: int) -> int:
    """The index after one (possibly escaped) class character at pos, or -1 (Go's getEsc)."""
    if pos >= len(pattern) or pattern[pos] in "-]":
        return -1
    if pattern[pos] == "\\":
        pos += 1
    return pos + 1 if pos < len(pattern) else -1


@functools.lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]) -> tuple[_Pattern, ...]:
    """The compiled patterns, blank ones left out (cached: contexts are matched file by file)."""
    return tuple(compiled for compiled in map(_compile, patterns) if compiled is not None)


# --- matching -----------------------------------------------------------------------------------


def is_ignored(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether Docker leaves path (POSIX, relative to the context) out: last matching pattern wins."""
    cleaned = _clean(path)
    return cleaned != "." and _ignored(_matcher(tuple(patterns)), cleaned)


def _ignored(matcher: tuple[_Pattern, ...], path: str) -> bool:
    """moby's MatchesOrParentMatches on a cleaned path."""
    parent = posixpath.dirname(path)
    parents = parent.split("/") if parent else []
    prefixes = ["/".join(parents[: index + 1]) for index in range(len(parents))]
    matched = False
    for pattern in matcher:
        if pattern.exclusion != matched:
            continue
        if _matches(pattern, path) or any(_matches(pattern, prefix) for prefix in prefixes):
            matched = not pattern.exclusion
    return matched


def _matches(pattern: _Pattern, path: str) -> bool:
    """moby's Pattern.match of one path."""
    if pattern.kind == "exact":
        return path == pattern.text
    if pattern.kind == "prefix":
        return path.startswith(pattern.text[:-2])
    if pattern.kind == "suffix":
        suffix = pattern.text[2:]
        return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
    return pattern.regexp is not None and pattern.regexp.fullmatch(path) is not None


# --- listing and hashing ------------------------------------------------------------------------


def list_context(context_dir: Path, patterns: tuple[str, ...]) -> tuple[ContextFile, ...]:
    """Every regular file and symlink of the context that is not ignored, sorted by path."""
    if not context_dir.is_dir():
        raise StackError(f"build context {context_dir} is not a directory", hint="check the context path")
    matcher = _matcher(tuple(patterns))
    prune = not any(pattern.exclusion for pattern in matcher)
    found: list[ContextFile] = []
    pending = [(str(context_dir), "")]
    while pending:
        directory, prefix = pending.pop()
        for entry in _scan(directory):
            relative = prefix + entry.name
            ignored = _ignored(matcher, relative)
            if entry.is_dir(follow_symlinks=False):
                if not (ignored and prune):
                    pending.append((entry.path, relative + "/"))
            elif not ignored:
                item = _context_file(entry, relative)
                if item is not None:
                    found.append(item)
    return tuple(sorted(found, key=lambda item: item.path))


def _scan(directory: str) -> list[os.DirEntry[str]]:
    """The entries of one directory of the context."""
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except OSError as err:
        raise StackError(f"cannot list {directory}: {err.strerror or err}", hint="make it readable") from err


def _context_file(entry: os.DirEntry[str], relative: str) -> ContextFile | None:
    """The ContextFile of a regular file or symlink (None for sockets, fifos and devices)."""
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            target = os.fsencode(os.readlink(entry.path))
            return ContextFile(relative, _sha256(_SYMLINK_PREFIX + target), SYMLINK_MODE)
        if not stat.S_ISREG(mode):
            return None
        with open(entry.path, "rb") as handle:
            digest = "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as err:
        raise StackError(f"cannot read {entry.path}: {err.strerror or err}", hint="make it readable") from err
    return ContextFile(relative, digest, EXECUTABLE_MODE if mode & stat.S_IXUSR else REGULAR_MODE)


def _sha256(data: bytes) -> str:
    """'sha256:<hex>' of data."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def context_digest(files: Iterable[ContextFile]) -> str:
    """'sha256:<hex>' over (path, mode, digest) of every file, whatever order they come in."""
    records = sorted(
        os.fsencode(item.path) + b"\0" + f"{item.mode:o}\0{item.digest}\n".encode() for item in files
    )
    hasher = hashlib.sha256(_ENCODING_HEADER)
    for record in records:
        hasher.update(record)
    return "sha256:" + hasher.hexdigest()


# --- changed paths (PR mode) --------------------------------------------------------------------


def files_matching(context_dir: Path, patterns: tuple[str, ...], changed: Iterable[str]) -> tuple[str, ...]:
    """The changed paths (POSIX, relative to context_dir) the build can see, cleaned, deduplicated, in order.

    Paths outside the context are dropped; ignore files themselves (the root .dockerignore and any
    <Dockerfile>.dockerignore) always count, because editing them changes what the build sees.
    """
    matcher = _matcher(tuple(patterns))
    visible: dict[str, None] = {}
    for raw in changed:
        relative = _inside(context_dir, raw)
        if relative is not None and (_is_ignore_file(relative) or not _ignored(matcher, relative)):
            visible.setdefault(relative, None)
    return tuple(visible)


def _inside(context_dir: Path, raw: str) -> str | None:
    """raw cleaned and made relative to context_dir, or None if it is the context root or outside it."""
    if posixpath.isabs(raw):
        raw = Path(os.path.relpath(raw, os.path.abspath(context_dir))).as_posix()
    relative = _clean(raw)
    if relative == "." or relative == ".." or relative.startswith(("../", "/")):
        return None
    return relative


def _is_ignore_file(relative: str) -> bool:
    """Whether relative is the context's .dockerignore or a Dockerfile-specific <name>.dockerignore."""
    name = posixpath.basename(relative)
    return relative == ".dockerignore" or (name.endswith(".dockerignore") and name != ".dockerignore")
