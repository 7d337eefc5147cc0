"""moby/patternmatcher's Pattern.compile: how one .dockerignore pattern becomes a match kind and a Go regexp.

Docker does not match with filepath.Match: it rewrites the pattern into a Go (RE2) regular expression
and only vets the syntax with filepath.Match. The rewrite copies '[', ']' and backslash escapes into
the expression unchanged, so RE2 gives them its own meaning (``[[:alpha:]]`` is a letter, ``\\d`` a
digit, ``[*]`` becomes a class followed by a star). graph.context.re2 then turns the Go expression
into an equivalent Python one.
"""

from __future__ import annotations

EXACT, PREFIX, SUFFIX, REGEXP = "exact", "prefix", "suffix", "regexp"
_ESCAPED = frozenset(".+()|{}$")  # patternmatcher's shouldEscape


def translate(pattern: str) -> tuple[str, str]:
    """(match kind, Go regexp) for a cleaned pattern; the regexp is '' unless the kind is REGEXP."""
    parts, kind = ["^"], EXACT
    pos, end = 0, len(pattern)
    while pos < end:
        first, char = pos == 0, pattern[pos]
        pos += 1
        if char == "*" and pos < end and pattern[pos] == "*":
            pos += 2 if pattern.startswith("/", pos + 1) else 1
            kind = _double_star(parts, kind, at_end=pos >= end)
            kind = SUFFIX if first else kind
        elif char in "*?":
            parts.append("[^/]*" if char == "*" else "[^/]")
            kind = REGEXP
        elif char in _ESCAPED:
            parts.append("\\" + char)
        elif char == "\\" and pos < end:
            parts.append("\\" + pattern[pos])
            pos += 1
            kind = REGEXP
        elif char in "[]":
            parts.append(char)
            kind = REGEXP
        else:
            parts.append(char)
    return kind, "".join(parts) + "$" if kind == REGEXP else ""


def _double_star(parts: list[str], kind: str, at_end: bool) -> str:
    """Append what '**' becomes and return the new kind ('**' ending a literal pattern is a prefix)."""
    if not at_end:
        parts.append("(.*/)?")
        return REGEXP
    if kind == EXACT:
        return PREFIX
    parts.append(".*")
    return REGEXP
