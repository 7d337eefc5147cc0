"""Go (RE2) regular expressions, as moby/patternmatcher writes them, turned into equivalent Python ones.

Only what regexp.Compile accepts is translated; anything Go refuses raises BadRegexp. Character classes
(POSIX ``[:name:]``, Perl ``\\d\\s\\w``, Unicode ``\\pL``, ranges, negation) become explicit code-point
ranges, so the Python expression does not depend on re's own class semantics.
"""

from __future__ import annotations

import functools
import sys
import unicodedata

Ranges = tuple[tuple[int, int], ...]
MAX_RUNE = sys.maxunicode
_POSIX: dict[str, Ranges] = {
    "alnum": ((48, 57), (65, 90), (97, 122)), "alpha": ((65, 90), (97, 122)), "ascii": ((0, 127),),
    "blank": ((9, 9), (32, 32)), "cntrl": ((0, 31), (127, 127)), "digit": ((48, 57),),
    "graph": ((33, 126),), "lower": ((97, 122),), "print": ((32, 126),),
    "punct": ((33, 47), (58, 64), (91, 96), (123, 126)), "space": ((9, 13), (32, 32)),
    "upper": ((65, 90),), "word": ((48, 57), (65, 90), (95, 95), (97, 122)),
    "xdigit": ((48, 57), (65, 70), (97, 102)),
}
_PERL: dict[str, Ranges] = {
    "d": ((48, 57),), "s": ((9, 10), (12, 13), (32, 32)), "w": _POSIX["word"],
}
_CONTROL = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"


class BadRegexp(ValueError):
    """regexp.Compile would fail on this expression."""


def to_python(go: str) -> str:
    """The Python expression that re.search-es exactly what Go's MatchString matches with go."""
    out: list[str] = []
    pos, depth, last = 0, 0, ""
    while pos < len(go):
        char = go[pos]
        if char in "*+?":
            piece, pos, last = _repeat(go, pos, last)
            out.append(piece)
            continue
        if char == "(":
            depth, piece, pos = depth + 1, "(?:", pos + 1
        elif char == ")":
            if depth == 0:
                raise BadRegexp("unexpected )")
            depth, piece, pos = depth - 1, ")", pos + 1
        elif char == "|":
            piece, pos = "|", pos + 1
        else:
            piece, pos = _atom(go, pos)
        out.append(piece)
        last = "open" if char == "(" else "bar" if char == "|" else "atom"
    if depth:
        raise BadRegexp("missing closing )")
    return "".join(out)


def _repeat(go: str, pos: int, last: str) -> tuple[str, int, str]:
    """A repetition operator (with an optional non-greedy '?'); Go refuses stacked or argument-less ones."""
    if last != "atom":
        raise BadRegexp(f"missing argument to repetition operator or nested repetition at {pos}")
    piece = go[pos]
    pos += 1
    if go.startswith("?", pos):
        piece, pos = piece + "?", pos + 1
    return piece, pos, "repeat"


def _atom(go: str, pos: int) -> tuple[str, int]:
    """One atom outside a class at pos: literal, class, '.', anchor or escape; its Python text and end."""
    char = go[pos]
    if char == "[":
        ranges, end = _class(go, pos + 1)
        return _emit(ranges), end
    if char == ".":
        return _emit(_negate(((10, 10),))), pos + 1
    if char == "^":
        return r"(?:\A)", pos + 1
    if char == "$":
        return r"(?:\Z)", pos + 1
    if char != "\\":
        return _literal(ord(char)), pos + 1
    return _escape_atom(go, pos)


def _escape_atom(go: str, pos: int) -> tuple[str, int]:
    """A backslash sequence outside a class: anchors, \\Q...\\E, classes or one escaped character."""
    name = go[pos + 1: pos + 2]
    anchors = {"A": r"(?:\A)", "z": r"(?:\Z)", "b": r"(?:\b)", "B": r"(?:\B)"}
    if name in anchors:
        return anchors[name], pos + 2
    if name == "Q":
        end = go.find("\\E", pos + 2)
        text = go[pos + 2:] if end < 0 else go[pos + 2: end]
        return "".join(_literal(ord(c)) for c in text), len(go) if end < 0 else end + 2
    ranges, end = _class_escape(go, pos)
    if ranges is not None:
        return _emit(ranges), end
    rune, end = _escape(go, pos)
    return _literal(rune), end


def _class(go: str, pos: int) -> tuple[Ranges, int]:
    """The ranges of the class whose body starts at pos (after '['), and the index after its ']'."""
    negated = go.startswith("^", pos)
    pos += negated
    items: list[tuple[int, int]] = []
    first = True
    while first or not go.startswith("]", pos):
        if pos >= len(go):
            raise BadRegexp("missing closing ]")
        first = False
        ranges, pos = _class_item(go, pos)
        items.extend(ranges)
    merged = _merge(items)
    return (_negate(merged) if negated else merged), pos + 1


def _class_item(go: str, pos: int) -> tuple[Ranges, int]:
    """One item of a class: [:name:], \\pX, \\d-style class, a character or a range."""
    if go.startswith("[:", pos):
        close = go.find(":]", pos + 2)
        if close >= 0:
            return _posix(go[pos + 2: close]), close + 2
    if go.startswith("\\", pos):
        ranges, end = _class_escape(go, pos)
        if ranges is not None:
            return ranges, end
    low, pos = _class_char(go, pos)
    high = low
    if go.startswith("-", pos) and pos + 1 < len(go) and go[pos + 1] != "]":
        high, pos = _class_char(go, pos + 1)
        if high < low:
            raise BadRegexp("invalid character class range")
    return ((low, high),), pos


def _class_char(go: str, pos: int) -> tuple[int, int]:
    """One class character (possibly escaped) at pos and the index after it."""
    if pos >= len(go):
        raise BadRegexp("missing closing ]")
    if go[pos] == "\\":
        return _escape(go, pos)
    return ord(go[pos]), pos + 1


def _class_escape(go: str, pos: int) -> tuple[Ranges | None, int]:
    """Ranges of \\d \\s \\w (and capitals) or \\pX \\PX at pos, else (None, pos)."""
    name = go[pos + 1: pos + 2]
    if name.lower() in _PERL:
        ranges = _PERL[name.lower()]
        return (_negate(ranges) if name.isupper() else ranges), pos + 2
    if name in ("p", "P"):
        category = go[pos + 2: pos + 3]
        if len(category) != 1 or category not in "CLMNPSZ":  # \p{Name} cannot occur: '{' is escaped
            raise BadRegexp(f"invalid character class range \\{name}{category}")
        ranges = _category(category)
        return (_negate(ranges) if name == "P" else ranges), pos + 3
    return None, pos


def _escape(go: str, pos: int) -> tuple[int, int]:
    """One escaped character at pos (a backslash): Go's parseEscape."""
    if pos + 1 >= len(go):
        raise BadRegexp("trailing backslash at end of expression")
    char = go[pos + 1]
    if ord(char) < 128 and not char.isalnum():
        return ord(char), pos + 2
    if char in _CONTROL:
        return _CONTROL[char], pos + 2
    if char in _OCTAL:
        return _octal(go, pos + 1)
    digits = go[pos + 2: pos + 4]
    if char == "x" and len(digits) == 2 and all(c in _HEX for c in digits):
        return int(go[pos + 2: pos + 4], 16), pos + 4
    raise BadRegexp(f"invalid escape sequence \\{char}")


def _octal(go: str, pos: int) -> tuple[int, int]:
    """An octal escape whose first digit is at pos; a lone \\1-\\7 is a backreference Go refuses."""
    if go[pos] != "0" and go[pos + 1: pos + 2] not in tuple(_OCTAL):
        raise BadRegexp("invalid escape sequence (backreferences are not supported)")
    end = pos + 1
    while end < pos + 3 and go[end: end + 1] in tuple(_OCTAL):
        end += 1
    return int(go[pos:end], 8), end


def _posix(name: str) -> Ranges:
    """A POSIX class by name, [:^name:] negated; Go refuses unknown names."""
    negated = name.startswith("^")
    ranges = _POSIX.get(name[1:] if negated else name)
    if ranges is None:
        raise BadRegexp(f"invalid character class range [:{name}:]")
    return _negate(ranges) if negated else ranges


@functools.lru_cache(maxsize=8)
def _category(letter: str) -> Ranges:
    """Code points of a one-letter Unicode category (C leaves unassigned code points out, as Go does)."""
    ranges: list[tuple[int, int]] = []
    for point in range(MAX_RUNE + 1):
        category = unicodedata.category(chr(point))
        if category[0] == letter and category != "Cn":
            ranges.append((point, point))
    return _merge(ranges)


def _merge(items: list[tuple[int, int]]) -> Ranges:
    """Sorted, non-overlapping, non-adjacent ranges."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(items):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)


def _negate(ranges: Ranges) -> Ranges:
    """The complement of sorted ranges over every code point."""
    out, start = [], 0
    for low, high in ranges:
        if low > start:
            out.append((start, low - 1))
        start = high + 1
    if start <= MAX_RUNE:
        out.append((start, MAX_RUNE))
    return tuple(out)


def _emit(ranges: Ranges) -> str:
    """A Python class matching exactly ranges (one that never matches when ranges is empty)."""
    if not ranges:
        return "(?!)"
    body = "".join(_literal(low) + ("" if low == high else "-" + _literal(high)) for low, high in ranges)
    return f"[{body}]"


def _literal(point: int) -> str:
    """A code point written so that it means itself in a Python expression, inside a class or not."""
    return f"\\U{point:08x}"
