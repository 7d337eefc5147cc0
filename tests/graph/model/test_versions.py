"""graph.model.versions: PEP 440 order where values are PEP 440, natural order with pre-releases first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from graph.model.versions import is_prerelease, version_key

# The cases issue 14 names, each (lower, higher), plus the vendor versions the stacks use.
ORDERED = [
    ("2.1.0rc1", "2.1.0"),
    ("2.5.0-rc1", "2.5.0"),
    ("1.0.0", "1.0.post1"),
    ("7.0.RC1.alpha002", "7.0.RC1"),
    ("7.0.RC1", "7.0.0"),
    ("8.0.RC1", "8.0.RC2"),
    ("8.0.RC3", "8.0.0"),
    ("8.0.0", "8.0.1"),
    ("8.0.1", "8.1.RC1"),
    ("1.0.dev1", "1.0a1"),
    ("1.0a1", "1.0b2"),
    ("1.0b2", "1.0rc1"),
    ("2.1.0", "2.1.0+cu121"),
    ("2.1.0+cu121", "2.1.0.post1"),
    ("2.1.0+cpu", "2.1.0+cu121"),
    ("2203", "2203sp1"),
    ("2203sp2", "2203sp10"),
    ("3.9", "3.11"),
    ("12.1.1", "12.4"),
]


@pytest.mark.parametrize(("lower", "higher"), ORDERED)
def test_pairs_are_ordered(lower: str, higher: str) -> None:
    assert version_key(lower) < version_key(higher)


@pytest.mark.parametrize(("first", "second"), [("12.4", "12.4.0"), ("8.0", "8.0.0.0"), ("rc1", "RC1"),
                                                ("1!2.0", "1!2")])
def test_equal_versions(first: str, second: str) -> None:
    assert version_key(first) == version_key(second)


def test_an_epoch_outranks_any_release() -> None:
    assert version_key("99.0") < version_key("1!1.0")


@pytest.mark.parametrize(("value", "pre"), [("8.0.RC1", True), ("7.0.RC1.alpha002", True), ("2.1.0rc1", True),
                                            ("1.0.dev3", True), ("2.5.0-beta", True), ("8.0.0", False),
                                            ("2.1.0+cu121", False), ("1.0.post1", False), ("2203sp3", False)])
def test_prereleases_are_recognised(value: str, pre: bool) -> None:
    assert is_prerelease(value) is pre


_RELEASE = st.lists(st.integers(0, 12), min_size=1, max_size=4).map(lambda xs: ".".join(map(str, xs)))
_PRE = st.sampled_from(["", "a1", "b2", "rc1", "rc3", "-rc2", ".alpha1", "beta0", "c1", "pre1"])
_POST = st.sampled_from(["", ".post1", ".post2", "-1", ".dev1", ".post1.dev2"])
_LOCAL = st.sampled_from(["", "+cpu", "+cu121", "+1", "+2.abc", "+abc.2"])
_PEP440 = st.tuples(st.sampled_from(["", "1!"]), _RELEASE, _PRE, _POST, _LOCAL).map("".join)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(_PEP440, _PEP440)
def test_pep440_values_compare_as_pep440_says(first: str, second: str) -> None:
    pep = (Version(first) > Version(second)) - (Version(first) < Version(second))
    ours = (version_key(first) > version_key(second)) - (version_key(first) < version_key(second))
    assert ours == pep


def test_long_values_are_bounded() -> None:
    assert version_key("1." * 5000) == version_key("1." * 128)
