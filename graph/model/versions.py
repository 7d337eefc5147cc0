"""Version order: PEP 440 where a value is PEP 440, a natural order with pre-releases first otherwise.

A value that `packaging` accepts is first normalised the PEP 440 way ('2.5.0-rc1' → '2.5.0rc1',
'1.0-1' → '1.0.post1', '1!2.0' keeps its epoch). Every value is then read as a sequence of items:
its leading release numbers with trailing zeros dropped ('12.4' and '12.4.0' are one release), then
the rest as numbers and words, closed by a release end. Items compare left to right. Words rank
against that end:

    dev < a, alpha < b, beta < c, rc, pre, preview < (end of release, or any number) < other words < post

so '8.0.RC1' < '8.0' == '8.0.0' < '8.0.1', '7.0.RC1.alpha002' < '7.0.RC1', '2.1.0rc1' < '2.1.0',
'1.0.0' < '1.0.post1', '2.1.0' < '2.1.0+cu121' < '2.1.0.post1' and '2203' < '2203sp1'. On PEP 440
values this agrees with PEP 440; words compare case-insensitively ('RC1' == 'rc1').
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

_ITEM = re.compile(r"[0-9]+|[a-zA-Z]+")
_LEADING_NUMBERS = re.compile(r"[0-9]+(?:[._-][0-9]+)*")
_MAX_LENGTH = 256  # longer values compare by their first 256 characters (names are far shorter)
_WORD_RANKS = {"dev": -4, "a": -3, "alpha": -3, "b": -2, "beta": -2, "c": -1, "rc": -1, "pre": -1,
               "preview": -1, "post": 2, "rev": 2, "r": 2}
_OTHER_WORD = 1
_RELEASE_END = (0, 0, "")
_LOCAL_MARK = (1, 0, "+")

Atom = tuple[int, int, str]  # (rank, number, word): numbers rank 0, words by _WORD_RANKS
VersionKey = tuple[int, tuple[int, ...], tuple[Atom, ...]]  # (epoch, release numbers, the rest)


def _normalised(value: str) -> tuple[int, str]:
    """The epoch and the PEP 440 normal form of value, or (0, value) when it is not PEP 440."""
    try:
        version = Version(value)
    except InvalidVersion:
        return 0, value
    text = str(version)
    return version.epoch, text.split("!", 1)[1] if "!" in text else text


def _release(text: str) -> tuple[tuple[int, ...], str]:
    """The leading release numbers (trailing zeros dropped) and the text after them."""
    match = _LEADING_NUMBERS.match(text)
    if match is None:
        return (), text
    numbers = [int(part) for part in re.split(r"[._-]", match.group())]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers), text[match.end():]


def _item(run: str) -> Atom:
    """One item: a number, or a word with its rank."""
    if run.isdigit():
        return (0, int(run), "")
    word = run.lower()
    return (_WORD_RANKS.get(word, _OTHER_WORD), 0, word)


def _local_item(run: str) -> Atom:
    """One item of a local label ('+cu121'): numbers above words, as PEP 440 has it."""
    return (1, int(run), "") if run.isdigit() else (0, 0, run.lower())


def version_key(value: str) -> VersionKey:
    """Sort key of value for <, <=, >, >= and max: the order described in this module's docstring."""
    epoch, text = _normalised(value[:_MAX_LENGTH])
    main, _, local = text.partition("+")
    release, rest = _release(main)
    items = [_item(run) for run in _ITEM.findall(rest)]
    # The release end closes the items, so a shorter value compares its end against the longer
    # one's next item: above a pre-release word, below a number, a local label or a post-release.
    items.append(_RELEASE_END)
    if local:
        items += [_LOCAL_MARK, *(_local_item(run) for run in _ITEM.findall(local))]
    return epoch, release, tuple(items)


def is_prerelease(value: str) -> bool:
    """Whether value names a dev, alpha, beta or release-candidate version."""
    return any(rank < 0 for rank, _, _ in version_key(value)[2])
