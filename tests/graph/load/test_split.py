"""graph.load.split: command lines split exactly like shlex.split, in linear time."""

from __future__ import annotations

import shlex
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.load.split import split_command


def shlex_or_error(text: str) -> list[str] | tuple[str, str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        return ("error", str(exc))


def split_or_error(text: str) -> list[str] | tuple[str, str]:
    try:
        return split_command(text)
    except ValueError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize(("text", "expected"), [
    ("", []),
    ("  echo   hi  ", ["echo", "hi"]),
    ("a'b c'd", ["ab cd"]),
    ('"a \\" b" \'c\\\'', ['a " b', "c\\"]),
    ('"\\$x" \\ y', ["\\$x", " y"]),
    ("''", [""]),
    ("a\\\nb", ["a\nb"]),
])
def test_splits_like_a_posix_shell(text: str, expected: list[str]) -> None:
    assert split_command(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("echo 'x", "No closing quotation"),
    ('echo "x\\"', "No closing quotation"),
    ("echo x\\", "No escaped character"),
    ('echo "x\\', "No escaped character"),
])
def test_open_quotes_and_trailing_backslashes_are_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_command(text)


@settings(max_examples=500, derandomize=True, database=None)
@given(st.text(alphabet=" \t\n'\"\\ab$", max_size=16))
def test_agrees_with_shlex_split(text: str) -> None:
    assert split_or_error(text) == shlex_or_error(text)


def test_a_long_command_is_split_in_linear_time() -> None:
    text = 'echo "x" ' * 100_000  # 900 kB: shlex.split needs minutes for this
    started = time.process_time()
    assert len(split_command(text)) == 200_000
    assert time.process_time() - started < 2.0
