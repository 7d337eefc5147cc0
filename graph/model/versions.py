"""Version order: a sort key that reads version numbers ('1.10' > '1.9', '8.0.RC1' < '8.0.0')."""

from __future__ import annotations

import re

_PART_SPLIT = re.compile(r"[\W_]+")
_RUN = re.compile(r"[0-9]+|[^0-9]+")

Atom = tuple[int, int, str]
VersionKey = tuple[tuple[tuple[Atom, ...], ...], str]


def _atoms(part: str) -> tuple[Atom, ...]:
    """A separator-free part as runs: digits -> (1, number, ''), other text -> (0, 0, lower-cased)."""
    runs = _RUN.findall(part)
    return tuple((1, int(run), "") if run[0] in "0123456789" else (0, 0, run.lower()) for run in runs)


# The value is split into parts at every run of non-alphanumeric characters ('.', '-', '_', '+', ...),
# each part into runs of ASCII digits and of other text.  Parts, then runs, compare left to right:
# numbers as numbers, text case-insensitively, text before any number at the same place (so pre-release
# tags come first: '8.0.RC1' < '8.0.0', 'alpha' < 'beta' < 'rc'), and a missing part or run before any
# present one (so a shorter version is the floor of its series: '8.0' < '8.0.RC1' < '8.0.0' < '8.1',
# '2203' < '2203sp1').  Remaining ties ('8.0' vs '8-0' vs '08.0', 'rc1' vs 'RC1') fall back to the plain
# string, so two keys are equal only for equal strings.
def version_key(value: str) -> VersionKey:
    """Sort key of `value` for <, <=, >, >=: a strict total order that reads version numbers."""
    parts = tuple(_atoms(part) for part in _PART_SPLIT.split(value) if part)
    return parts, value
