"""Splits a command line into arguments like shlex.split (POSIX), in linear time."""

from __future__ import annotations

import re

# A run of plain characters, a quoted part, a backslash escape, or whitespace.
_PIECE_RE = re.compile(r"""[^\s'"\\]+|'[^']*'?|"(?:[^"\\]|\\.?)*"?|\\.?|\s+""", re.DOTALL)
_DOUBLE_ESCAPE_RE = re.compile(r"""\\([\\"])""")


def split_command(text: str) -> list[str]:
    """The arguments of text; ValueError for an open quote or a trailing backslash, as shlex says."""
    words: list[str] = []
    parts: list[str] = []
    started = False
    for piece in _PIECE_RE.findall(text):
        if piece[0].isspace():
            if started:
                words.append("".join(parts))
            parts, started = [], False
            continue
        started = True
        parts.append(_unquote(piece))
    if started:
        words.append("".join(parts))
    return words


def _unquote(piece: str) -> str:
    if piece[0] == "'":
        if len(piece) < 2 or piece[-1] != "'":
            raise ValueError("No closing quotation")
        return piece[1:-1]
    if piece[0] == '"':
        if _ends_escaping(piece[1:]):
            raise ValueError("No escaped character")
        if len(piece) < 2 or piece[-1] != '"' or _ends_escaping(piece[1:-1]):
            raise ValueError("No closing quotation")
        return _DOUBLE_ESCAPE_RE.sub(r"\1", piece[1:-1])
    if piece[0] == "\\":
        if len(piece) < 2:
            raise ValueError("No escaped character")
        return piece[1]
    return piece


def _ends_escaping(text: str) -> bool:
    """Whether text ends in an unpaired backslash."""
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1
