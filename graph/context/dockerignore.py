""".dockerignore as BuildKit reads it: moby/patternmatcher semantics, quirks included.

Pattern semantics follow moby/patternmatcher (``New`` + ``MatchesOrParentMatches``) and the parsing of
``ignorefile.ReadAll``, so that a fingerprint changes exactly when the files a build can COPY change.
"""

from __future__ import annotations

import errno
import functools
import os
import posixpath
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from graph.errors import Location, StackError

# Go's unicode.IsSpace (strings.TrimSpace), which differs from str.strip() on \x1c-\x1f.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_REGEXP_ESCAPED = ".+()|{}$"
MAX_IGNORE_FILE = 1024 * 1024
_PATTERN_HINT = "dockerignore patterns use Go filepath.Match syntax plus '**' (docs.docker.com: dockerignore)"


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
        if os.path.lexists(candidate):  # a dangling symlink is refused, not skipped
            return _read_ignore_file(candidate)
    return ()


def _read_ignore_file(path: Path) -> tuple[str, ...]:
    """The patterns of one ignore file, each checked so that a bad line is reported with its line number."""
    text = _ignore_file_text(path)
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
        pattern = clean_path(pattern)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern[1:]
    return "!" + pattern if invert else pattern


def clean_path(path: str) -> str:
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
    text = clean_path(text)
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
def compile_patterns(patterns: tuple[str, ...]) -> tuple[_Pattern, ...]:
    """The compiled patterns, blank ones left out (cached: contexts are matched file by file)."""
    return tuple(compiled for compiled in map(_compile, patterns) if compiled is not None)


# --- matching -----------------------------------------------------------------------------------


def is_ignored(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether Docker leaves path (POSIX, relative to the context) out: last matching pattern wins."""
    cleaned = clean_path(path)
    return cleaned != "." and ignored_by(compile_patterns(tuple(patterns)), cleaned)


def ignored_by(matcher: tuple[_Pattern, ...], path: str) -> bool:
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
