"""Which paths BuildKit's context transfer leaves out: fsutil's filtered walk over patternmatcher results.

BuildKit walks the context depth first and matches each path with ``MatchesUsingParentResults``: a
path inherits every pattern its parent directory matched, and only a top-level entry is matched
against its parents' prefixes. A matched directory is not entered at all unless some exception
('!') pattern could match inside it; when an exception contains a wildcard, every matched directory
is entered. Paths are POSIX, relative to the context root, cleaned.
"""

from __future__ import annotations

import functools
import posixpath
import re
from dataclasses import dataclass

from graph.context import goglob, gopattern, re2
from graph.errors import StackError

# Go's unicode.IsSpace (strings.TrimSpace), which differs from str.strip() on \x1c-\x1f.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_PATTERN_HINT = "dockerignore patterns use Go filepath.Match syntax plus '**' (docs.docker.com: dockerignore)"
_REGEXP_HINT = ("Docker matches with the Go regular expression it makes of the pattern and fails the build "
                "once a path is checked against this one; escape the character or write the class as Go "
                "accepts it")
_WILDCARDS = "*[]?^\\"
ParentInfo = tuple[bool, ...]


class RefusedPattern(StackError):
    """A path met a pattern whose Go expression does not compile: Docker's build fails there."""


@dataclass(frozen=True)
class Pattern:
    """One compiled pattern: its cleaned text, whether it is an exception, match kind and expression."""

    text: str
    exclusion: bool
    kind: str
    regexp: re.Pattern[str] | None
    error: str = ""  # why Go cannot compile the expression: Docker fails when the pattern is consulted

    def matches(self, path: str) -> bool:
        """patternmatcher's Pattern.match of one path (StackError where Docker's build fails)."""
        if self.error:
            raise RefusedPattern(f"ignore pattern {self.text!r} is refused by Docker: {self.error}",
                                 hint=_REGEXP_HINT)
        if self.kind == gopattern.EXACT:
            return path == self.text
        if self.kind == gopattern.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == gopattern.SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regexp is not None and self.regexp.search(path) is not None


@dataclass(frozen=True)
class Matcher:
    """The compiled patterns of one context, with what fsutil derives from them to prune the walk."""

    patterns: tuple[Pattern, ...]
    exceptions: tuple[str, ...]  # exception patterns without a trailing '/**' or '/*', plus '/'
    literal_exceptions: bool  # fsutil's onlyPrefixExcludeExceptions


def clean_path(path: str) -> str:
    """Go's filepath.Clean on a POSIX path."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def compile_pattern(raw: str) -> Pattern | None:
    """One pattern as patternmatcher.New takes it (None when blank); StackError when New refuses it."""
    stripped = raw.strip(GO_SPACE)
    if not stripped:
        return None
    text = clean_path(stripped)
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise StackError('illegal exclusion pattern: "!"', hint="write the path to re-include after '!'")
        text = text[1:]
    if not goglob.syntax_ok(text):
        raise StackError(f"malformed ignore pattern {raw!r}", hint=_PATTERN_HINT)
    kind, go_regexp = gopattern.translate(text)
    if kind != gopattern.REGEXP:
        return Pattern(text, exclusion, kind, None)
    try:
        return Pattern(text, exclusion, kind, re.compile(re2.to_python(go_regexp), re.ASCII))
    except re2.BadRegexp as err:  # Go compiles lazily: the build fails only if a path meets the pattern
        return Pattern(text, exclusion, kind, None, str(err))


@functools.lru_cache(maxsize=64)
def compile_patterns(patterns: tuple[str, ...]) -> Matcher:
    """The Matcher of a pattern list, blank patterns left out (cached: contexts are matched file by file)."""
    compiled = tuple(item for item in map(compile_pattern, patterns) if item is not None)
    exceptions = tuple(_without_trailing_glob(item.text) for item in compiled if item.exclusion)
    literal = not any(char in _WILDCARDS for text in exceptions for char in text)
    return Matcher(compiled, tuple(text + "/" for text in exceptions), literal)


def _without_trailing_glob(text: str) -> str:
    """fsutil's patternWithoutTrailingGlob: the pattern less a final '/**', then less a final '/*'."""
    return text.removesuffix("/**").removesuffix("/*")


def match(matcher: Matcher, path: str, parent: ParentInfo) -> tuple[bool, ParentInfo]:
    """patternmatcher's MatchesUsingParentResults: (excluded, what to hand the path's children)."""
    matched, info = False, [False] * len(matcher.patterns)
    for index, pattern in enumerate(matcher.patterns):
        hit = bool(parent) and parent[index]
        if not hit:
            if pattern.exclusion != matched:
                continue
            hit = pattern.matches(path) or (not parent and _parent_matches(pattern, path))
        info[index] = hit
        if hit:
            matched = not pattern.exclusion
    return matched, tuple(info)


def _parent_matches(pattern: Pattern, path: str) -> bool:
    """Whether the pattern matches one of path's parent directories (MatchesOrParentMatches' rule)."""
    parts = posixpath.dirname(path).split("/") if "/" in path else []
    return any(pattern.matches("/".join(parts[: index + 1])) for index in range(len(parts)))


def prunes(matcher: Matcher, directory: str) -> bool:
    """Whether fsutil skips an excluded directory whole (no exception pattern could reach inside)."""
    if not matcher.literal_exceptions:
        return False
    inside = directory + "/"
    return not any(text.startswith(inside) for text in matcher.exceptions)


def ignored_by(matcher: Matcher, path: str) -> bool:
    """Whether the walk leaves path out, its parents taken as directories (path cleaned, not '.')."""
    parts = path.split("/")
    parent: ParentInfo = ()
    for depth in range(1, len(parts)):
        directory = "/".join(parts[:depth])
        excluded, parent = match(matcher, directory, parent)
        if excluded and prunes(matcher, directory):
            return True
    return match(matcher, path, parent)[0]


def is_ignored(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether Docker leaves path (POSIX, relative to the context) out of the build context."""
    cleaned = clean_path(path)
    return cleaned != "." and ignored_by(compile_patterns(tuple(patterns)), cleaned)
