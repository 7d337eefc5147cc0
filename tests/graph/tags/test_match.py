"""graph.tags.match: tag templates matched like a regex fullmatch would, without backtracking."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from graph.tags.match import compile_template, match_template
from graph.tags.model import PLACEHOLDER_RE

PATTERNS = {"name": r"[A-Za-z0-9_.]+?", "v_version": r"[0-9][A-Za-z0-9_.]*?",
            "w_version": r"[0-9][A-Za-z0-9_.]*?", "os": r"[0-9]+[a-z0-9]*", "flavor": r"base|runtime|devel",
            "dotted": r"[0-9]+(?:\.[0-9]+)*"}


def regex_of(template: str) -> re.Pattern[str]:
    """The backtracking regex scheme.py used to build (a repeated placeholder as a back-reference)."""
    parts = PLACEHOLDER_RE.split(template)
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(re.escape(part))
        elif part in parts[1:index:2]:
            out.append(f"(?P={part})")
        else:
            out.append(f"(?P<{part}>{PATTERNS[part]})")
    return re.compile("".join(out))


def match(template: str, tag: str) -> dict[str, str] | None:
    return match_template(compile_template(template, PATTERNS.__getitem__), tag)


def test_placeholders_split_at_literals() -> None:
    assert match("{name}-{v_version}-oe{os}", "pytorch-2.1.0-oe2203sp3") == {
        "name": "pytorch", "v_version": "2.1.0", "os": "2203sp3"}


def test_touching_placeholders_split_as_the_lazy_regex_would() -> None:
    assert match("{name}{v_version}x", "py1.2x") == {"name": "py", "v_version": "1.2"}
    assert match("{name}{v_version}{w_version}x", "py12ax") == {"name": "py", "v_version": "1",
                                                                "w_version": "2a"}


def test_a_repeated_placeholder_must_repeat_its_value() -> None:
    assert match("{os}-x-{os}", "22-x-22") == {"os": "22"}
    assert match("{os}-x-{os}", "22-x-23") is None


def test_no_match_is_none() -> None:
    assert match("{flavor}-{dotted}", "nightly-1.0") is None


TEMPLATES = st.lists(st.sampled_from(["{name}", "{v_version}", "{w_version}", "{os}", "{flavor}", "{dotted}",
                                      "-", "x", "1", ".", "oe"]), min_size=1, max_size=6).map("".join)
TAGS = st.text(alphabet="ab1x2.-oedvlrunim", max_size=14)


@settings(max_examples=600, derandomize=True, database=None)
@given(TEMPLATES, TAGS)
def test_agrees_with_the_backtracking_regex(template: str, tag: str) -> None:
    found = regex_of(template).fullmatch(tag)
    expected = None if found is None else {key: value for key, value in found.groupdict().items()}
    assert match(template, tag) == expected


def test_many_touching_placeholders_do_not_backtrack() -> None:
    template = "{name}" + "".join(f"{{v{i}_version}}" for i in range(15)) + "x"
    pieces = compile_template(template, lambda name: PATTERNS["name" if name == "name" else "v_version"])
    started = time.process_time()
    assert match_template(pieces, "a" + "1" * 126 + "y") is None  # the regex needs hours
    assert time.process_time() - started < 1.0
