"""graph.tags.openeuler: openEuler's published scheme generates and parses back exactly, for valid attrs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.errors import StackError
from graph.tags.model import TagInfo
from graph.tags.openeuler import OPENEULER
from graph.tags.scheme import placeholders

WORD = st.from_regex(r"[a-z]{1,6}(_[a-z]{1,4})?", fullmatch=True).filter(lambda w: not w.startswith("python"))
VALUES = {
    "app": st.from_regex(r"[a-z0-9]{1,8}(_[a-z0-9]{1,4})?", fullmatch=True),
    "framework": WORD,
    "sdk": WORD,
    "os": st.from_regex(r"[0-9]{2,4}[a-z0-9]{0,4}", fullmatch=True),
    "os_release": st.from_regex(r"[0-9]{2}\.[0-9]{2}(-lts)?(-sp[0-9])?", fullmatch=True),
    "python": st.from_regex(r"3\.[0-9]{1,2}", fullmatch=True),
}
VERSION = st.from_regex(r"[0-9][A-Za-z0-9_.]{0,10}", fullmatch=True)


@st.composite
def tagged(draw: st.DrawFn) -> tuple[str, dict[str, str], bool]:
    """A form's kind, attrs that fill it (and imply its fixed ones) and the -dev flag."""
    form = draw(st.sampled_from([f for f in OPENEULER.forms if not f.dev]))
    attrs = {attr: draw(VALUES.get(attr, VERSION)) for attr in placeholders(form.template)}
    return draw(st.sampled_from(form.kinds)), {**attrs, **dict(form.fixed)}, draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(tagged())
def test_any_valid_attrs_round_trip(case: tuple[str, dict[str, str], bool]) -> None:
    kind, attrs, dev = case
    tag = OPENEULER.generate(kind, attrs, dev)
    assert OPENEULER.parse(tag, kind) == TagInfo(kind, attrs, dev)


def test_generated_tags_of_the_ai_stack() -> None:
    base = {"sdk_version": "8.0.RC1", "python": "3.8", "os": "2203sp4"}
    assert OPENEULER.generate("sdk", base, False) == "8.0.RC1-oe2203sp4"
    assert OPENEULER.generate("sdk", {**base, "cudnn": "8.9.0"}, True) == "8.0.RC1-cudnn8.9.0-oe2203sp4-dev"
    llm = {"app": "chatglm2_6b", "framework": "pytorch", "framework_version": "2.1.0.a1", "sdk": "cann",
           "sdk_version": "7.0.RC1.alpha002", "os": "2403sp4"}
    assert OPENEULER.generate("llm", llm, False) == (
        "chatglm2_6b-pytorch2.1.0.a1-cann7.0.RC1.alpha002-oe2403sp4")
    assert OPENEULER.generate("os", {"os_release": "24.03-lts-sp4"}, False) == "24.03-lts-sp4"
    assert OPENEULER.parse("24.03-lts-sp4") == TagInfo("os", {"os_release": "24.03-lts-sp4"})


@pytest.mark.parametrize(("kind", "attrs", "message"), [
    ("sdk", {"os": "2203sp4"}, "openeuler tag for kind 'sdk' is missing attrs: sdk_version"),
    ("sdk", {"sdk_version": "8.1.RC1", "os": "2403lts", "tag_python": "yes"},
     "openeuler tag for kind 'sdk' has tag_python: yes but is missing attrs: python"),
    ("framework", {"framework_version": "2.2.0", "sdk": "cann", "sdk_version": "8.0.RC1", "os": "2203sp4",
                   "tag_framework": "yes"},
     "openeuler tag for kind 'framework' has tag_framework: yes but is missing attrs: framework"),
    ("framework", {"framework_version": "2.2.0", "sdk": "python", "sdk_version": "3.10", "os": "2203sp4"},
     "openeuler tag attr 'sdk' has invalid value 'python'"),
    ("sdk", {"sdk_version": "8.1-RC1", "os": "2403lts"},
     "openeuler tag attr 'sdk_version' has invalid value"),
])
def test_bad_attrs_are_named(kind: str, attrs: dict[str, str], message: str) -> None:
    with pytest.raises(StackError, match=re.escape(message)):
        OPENEULER.generate(kind, attrs, False)
