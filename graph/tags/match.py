"""Matching a tag against a template of literals and {attr} placeholders without regex backtracking.

A placeholder's own pattern is a small regex matched on one slice at a time; the template as a whole is
matched by a search over (piece, position) that remembers dead ends, so its time is polynomial in the
tag's length (at most 128) and never exponential in the number of placeholders. The search tries a
placeholder's possible ends in the order Python's regex engine would (longest first, or shortest first
for a lazy pattern), so it finds the same split a `re.fullmatch` of the whole template would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from graph.tags.model import PLACEHOLDER_RE


@dataclass(frozen=True)
class Piece:
    """A literal text, or a placeholder with the pattern its value must match."""

    text: str
    pattern: re.Pattern[str] | None = None
    shortest: bool = False  # try the shortest value first (a lazy pattern)

    @property
    def is_placeholder(self) -> bool:
        """Whether this piece is a placeholder (its name is text)."""
        return self.pattern is not None


def compile_template(template: str, pattern_of: Callable[[str], str]) -> tuple[Piece, ...]:
    """The pieces of template; pattern_of(name) is the regex of a placeholder's value."""
    parts = PLACEHOLDER_RE.split(template)
    pieces = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            if part:
                pieces.append(Piece(part))
            continue
        written = pattern_of(part)
        lazy = written.endswith(("*?", "+?", "??", "}?"))
        pieces.append(Piece(part, _compiled(written), lazy))
    return tuple(pieces)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _CACHE.get(pattern)
    if found is None:
        found = _CACHE.setdefault(pattern, re.compile(pattern))
    return found


def match_template(pieces: tuple[Piece, ...], tag: str) -> dict[str, str] | None:
    """The placeholder values if tag is exactly pieces (a repeated placeholder repeats its value)."""
    return _Search(pieces, tag).run()


class _Search:
    """A depth-first search over (piece, position) that enters no dead end twice.

    First, going backwards, the positions each piece can start at so that the rest can still match are
    worked out as bit sets (repeated placeholders ignored); the search then follows only those.
    """

    def __init__(self, pieces: tuple[Piece, ...], tag: str) -> None:
        self.pieces, self.tag = pieces, tag
        self.dead: set[tuple[int, int, tuple[str, ...]]] = set()
        self.ends: dict[tuple[re.Pattern[str], int], int] = {}
        names = [piece.text for piece in pieces if piece.is_placeholder]
        self.repeated = tuple(name for name in dict.fromkeys(names) if names.count(name) > 1)
        self.viable = self._viable()

    def run(self) -> dict[str, str] | None:
        if not self.viable[0] & 1:
            return None
        return self._from(0, 0, {})

    def _viable(self) -> list[int]:
        """viable[i] has bit p set if pieces[i:] can match tag[p:] (values of repeats not compared)."""
        viable = [0] * len(self.pieces) + [1 << len(self.tag)]
        for index in range(len(self.pieces) - 1, -1, -1):
            after = viable[index + 1]
            viable[index] = sum(1 << pos for pos in range(len(self.tag) + 1)
                                if self._end_bits(self.pieces[index], pos) & after)
        return viable

    def _end_bits(self, piece: Piece, pos: int) -> int:
        """Bit e is set if piece can span tag[pos:e] (a placeholder: by its pattern)."""
        if piece.pattern is None:
            return 1 << (pos + len(piece.text)) if self.tag.startswith(piece.text, pos) else 0
        bits = self.ends.get((piece.pattern, pos))
        if bits is None:
            bits = sum(1 << end for end in range(pos, len(self.tag) + 1)
                       if piece.pattern.fullmatch(self.tag, pos, end))
            self.ends[(piece.pattern, pos)] = bits
        return bits

    def _from(self, index: int, pos: int, bound: dict[str, str]) -> dict[str, str] | None:
        if index == len(self.pieces):
            return dict(bound) if pos == len(self.tag) else None
        key = (index, pos, tuple(bound.get(name, "") for name in self.repeated))
        if key in self.dead:
            return None
        piece = self.pieces[index]
        for end in self._candidates(index, pos, bound):
            fresh = piece.is_placeholder and piece.text not in bound
            if fresh:
                bound[piece.text] = self.tag[pos:end]
            found = self._from(index + 1, end, bound)
            if fresh:
                del bound[piece.text]
            if found is not None:
                return found
        self.dead.add(key)
        return None

    def _candidates(self, index: int, pos: int, bound: dict[str, str]) -> list[int]:
        """Where pieces[index] can end when it starts at pos and the rest can follow, in the order to try."""
        piece = self.pieces[index]
        if piece.is_placeholder and piece.text in bound:
            value = bound[piece.text]
            return [pos + len(value)] if self.tag.startswith(value, pos) else []
        bits = self._end_bits(piece, pos) & self.viable[index + 1]
        ends = [end for end in range(pos, len(self.tag) + 1) if bits >> end & 1]
        return ends if piece.shortest else ends[::-1]
