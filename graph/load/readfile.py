"""Reads a stack file as text without blocking, crashing or guessing: every problem names file:line."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from graph.errors import Location, StackError
from graph.load.limits import MAX_FILE_BYTES
from graph.model.checks import BIDI_CHARS

# A bidirectional control anywhere, comments too: it makes a line read otherwise than it is parsed (Trojan
# Source); else what YAML does not allow in a document (yaml.reader.Reader.NON_PRINTABLE), plus the BOM.
REFUSED_CHAR_RE = re.compile(f"(?P<bidi>[{BIDI_CHARS}])"
                             "|[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
BIDI_REFUSAL = ("bidirectional control character", "remove it: it reorders the text around it")
CONTROL_REFUSAL = ("control character", "remove it; write tabs and newlines as they are")
READ_HINT = "name a readable stack.yaml file"


def read_stack_text(path: Path, shown: str) -> str:
    """The UTF-8 text of the regular file at path (shown names it in errors)."""
    data = _read_bytes(path, shown)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StackError(f"byte 0x{data[exc.start]:02x} is not UTF-8 text", Location(shown, line),
                         "save the file as UTF-8") from None
    bad = REFUSED_CHAR_RE.search(text)
    if bad:
        kind, hint = BIDI_REFUSAL if bad["bidi"] else CONTROL_REFUSAL
        raise StackError(f"{kind} U+{ord(bad[0]):04X} is not allowed in a stack file",
                         Location(shown, text.count("\n", 0, bad.start()) + 1), hint)
    return text


def refuse_escaping_link(root: Path, path: Path) -> None:
    """Refuse a stack file inside root that a symlink (of it or a folder above it) takes outside root."""
    lexical_root = Path(os.path.abspath(root))
    lexical = Path(os.path.abspath(path))
    try:
        real, real_root = path.resolve(), root.resolve()
    except (OSError, RuntimeError):  # a symlink loop: reading the file says what is wrong
        return
    if lexical.is_relative_to(lexical_root) and not real.is_relative_to(real_root):
        raise StackError(f"stack file is a symlink to {real}, outside the repository",
                         Location(lexical.relative_to(lexical_root).as_posix(), 1),
                         "keep stack files inside the repository: copy the file instead of linking it")


def _read_bytes(path: Path, shown: str) -> bytes:
    """The bytes of a regular file; FIFOs, devices and folders are refused before they are opened."""
    where = Location(shown, 1)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise StackError(f"{_kind(info.st_mode)} is not a stack file", where, READ_HINT)
        if info.st_size > MAX_FILE_BYTES:
            raise StackError(f"stack file is {info.st_size} bytes, more than the limit of {MAX_FILE_BYTES}",
                             where, "split it into several stacks")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never wait on a FIFO swapped in after stat
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise StackError(f"cannot read stack file: {exc.strerror or exc}", where, READ_HINT) from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise StackError(f"cannot read stack file: {exc}", where, READ_HINT) from None
    if len(data) > MAX_FILE_BYTES:
        raise StackError(f"stack file is more than {MAX_FILE_BYTES} bytes", where,
                         "split it into several stacks")
    return data


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a device or socket" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode) else "this"
