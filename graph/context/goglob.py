"""Go's path/filepath.Match on POSIX, used (as moby/patternmatcher does) only to vet pattern syntax.

Docker checks every .dockerignore pattern with ``filepath.Match(pattern, ".")`` and refuses the
pattern when that call reports ErrBadPattern (Go parses every chunk, even after a mismatch).
"""

from __future__ import annotations


class BadPattern(ValueError):
    """filepath.ErrBadPattern."""


def match(pattern: str, name: str) -> bool:
    """filepath.Match(pattern, name) with '/' as separator; BadPattern when Go reports ErrBadPattern."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name
        rest, ok = _match_chunk(chunk, name)
        if ok and (not rest or pattern):
            name = rest
            continue
        if star:
            found = _star_skip(chunk, name, last=not pattern)
            if found is not None:
                name = found
                continue
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def syntax_ok(pattern: str) -> bool:
    """Whether patternmatcher.New accepts pattern: filepath.Match(pattern, ".") reports no error."""
    try:
        match(pattern, ".")
    except BadPattern:
        return False
    return True


def _star_skip(chunk: str, name: str, last: bool) -> str | None:
    """The rest of name after a '*' swallowed some non-'/' characters and chunk matched, else None."""
    for index in range(len(name)):
        if name[index] == "/":
            break
        rest, ok = _match_chunk(chunk, name[index + 1:])
        if ok and not (last and rest):
            return rest
    return None


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """Leading stars, then the chunk up to the next '*' outside a class, then the rest."""
    stripped = pattern.lstrip("*")
    star = len(stripped) != len(pattern)
    in_range, index = False, 0
    while index < len(stripped):
        char = stripped[index]
        if char == "\\" and index + 1 < len(stripped):
            index += 1
        elif char == "[":
            in_range = True
        elif char == "]":
            in_range = False
        elif char == "*" and not in_range:
            break
        index += 1
    return star, stripped[:index], stripped[index:]


def _match_chunk(chunk: str, name: str) -> tuple[str, bool]:
    """(rest of name, matched) for one chunk; the whole chunk is parsed even after a mismatch."""
    failed = False
    while chunk:
        failed = failed or not name
        head = chunk[0]
        if head == "[":
            char = "" if failed else name[0]
            name = name if failed else name[1:]
            hit, chunk = _match_class(chunk[1:], char)
            failed = failed or not hit
        elif head == "?":
            failed = failed or name[0] == "/"
            name = name if failed else name[1:]
            chunk = chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern(chunk)
            failed = failed or chunk[0] != name[0]
            name = name if failed else name[1:]
            chunk = chunk[1:]
    return ("", False) if failed else (name, True)


def _match_class(chunk: str, char: str) -> tuple[bool, str]:
    """Whether char is in the class whose body starts chunk (after '['), and the chunk after ']'."""
    negated = chunk.startswith("^")
    chunk = chunk[1:] if negated else chunk
    hit, ranges = False, 0
    while not (chunk.startswith("]") and ranges):
        low, chunk = _get_esc(chunk)
        high = low
        if chunk[0] == "-":
            high, chunk = _get_esc(chunk[1:])
        hit = hit or (char != "" and low <= char <= high)
        ranges += 1
    return hit != negated, chunk[1:]


def _get_esc(chunk: str) -> tuple[str, str]:
    """One possibly escaped class character and the chunk after it (Go's getEsc)."""
    if not chunk or chunk[0] in "-]":
        raise BadPattern(chunk)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern(chunk)
    if "\udc80" <= chunk[0] <= "\udcff":  # an undecodable byte (utf8.RuneError of width 1)
        raise BadPattern(chunk)
    if len(chunk) == 1:
        raise BadPattern(chunk)
    return chunk[0], chunk[1:]
