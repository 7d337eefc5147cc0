"""graph.expand.template: `{attr}` templates over node attributes, with every other formatting feature
refused."""

from __future__ import annotations

import pytest

from graph.errors import Location, StackError
from graph.expand.template import fields_of, render

WHERE = Location("s/stack.yaml", 7)
PLAIN_HINT = "use {name} only: no indexes, attributes, conversions or formats"
SYNTAX_HINT = "write {name} for an attribute and {{ }} for literal braces"


# --- fields_of ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "fields"), [
    ("", []),
    ("plain", []),
    ("{a}", ["a"]),
    ("{sdk}-py{python}-{os}", ["sdk", "python", "os"]),
    ("{a}{b}{a}", ["a", "b", "a"]),
    ("{_x1}", ["_x1"]),
    ("{{a}}", []),
    ("{{{a}}}", ["a"]),
    ("x{{-}}y", []),
])
def test_fields_of(template: str, fields: list[str]) -> None:
    assert fields_of(template) == fields


@pytest.mark.parametrize(("template", "shown"), [
    ("{a.b}", "{a.b}"),  # attribute access
    ("{a[0]}", "{a[0]}"),  # index
    ("{}", "{}"),  # positional
    ("{0}", "{0}"),  # positional by number
    ("{ a }", "{ a }"),
    ("{a-b}", "{a-b}"),
    ("x-{a!r}", "{a}"),  # conversion: the quoted field drops the '!r'
    ("{a!s}", "{a}"),
    ("{a:>5}", "{a}"),  # format spec: the quoted field drops the ':>5'
    ("{a:{b}}", "{a}"),  # nested replacement in a format spec
])
def test_only_plain_names_are_allowed(template: str, shown: str) -> None:
    with pytest.raises(StackError) as caught:
        fields_of(template, WHERE)
    assert caught.value.message == f"template {template!r}: '{shown}' is not a plain attribute name"
    assert caught.value.hint == PLAIN_HINT
    assert caught.value.location == WHERE


@pytest.mark.parametrize(("template", "reason"), [
    ("{a", "expected '}' before end of string"),
    ("}", "Single '}' encountered in format string"),
    ("a}b", "Single '}' encountered in format string"),
    ("{", "Single '{' encountered in format string"),
])
def test_unbalanced_braces_are_syntax_errors(template: str, reason: str) -> None:
    with pytest.raises(StackError) as caught:
        fields_of(template, WHERE)
    assert str(caught.value) == f"s/stack.yaml:7: template {template!r}: {reason} ({SYNTAX_HINT})"


def test_errors_without_a_location() -> None:
    with pytest.raises(StackError) as caught:
        fields_of("{a.b}")
    assert caught.value.location is None
    assert str(caught.value) == f"template '{{a.b}}': '{{a.b}}' is not a plain attribute name ({PLAIN_HINT})"


# --- render -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "expected"), [
    ("{sdk}-py{python}-{os}", "cann-py311-2203sp3"),
    ("{os}{os}", "2203sp32203sp3"),
    ("v{{os}}", "v{os}"),
    ("{{{os}}}", "{2203sp3}"),
    ("{{", "{"),
    ("}}", "}"),
    ("{{}}", "{}"),
])
def test_render(template: str, expected: str) -> None:
    assert render(template, {"sdk": "cann", "python": "311", "os": "2203sp3"}) == expected


def test_values_are_not_templates_themselves() -> None:
    assert render("{a}", {"a": "{b}", "b": "no"}) == "{b}"


@pytest.mark.parametrize("template", ["", "plain", "latest-2.1.0", "a%sb", "$HOME"])
def test_strings_without_braces_are_returned_as_they_are(template: str) -> None:
    assert render(template, {}) == template
    assert render(template, {"a": "1"}) is template


def test_unknown_attribute_lists_the_known_ones() -> None:
    with pytest.raises(StackError) as caught:
        render("{sdk}-{nope}-{other}", {"sdk": "cann", "os": "2203sp3", "arch_x": "a"}, WHERE)
    assert caught.value.message == "template '{sdk}-{nope}-{other}' uses unknown attribute 'nope'"
    assert caught.value.hint == "known here: arch_x, os, sdk"
    assert caught.value.location == WHERE


def test_unknown_attribute_with_no_attributes() -> None:
    with pytest.raises(StackError) as caught:
        render("{x}", {})
    assert str(caught.value) == "template '{x}' uses unknown attribute 'x' (known here: none)"


def test_render_refuses_what_fields_of_refuses() -> None:
    with pytest.raises(StackError) as caught:
        render("{a.real}", {"a": "1"}, WHERE)
    assert caught.value.message == "template '{a.real}': '{a.real}' is not a plain attribute name"
    with pytest.raises(StackError) as caught:
        render("{a!r}", {"a": "1"})
    assert caught.value.hint == PLAIN_HINT
    with pytest.raises(StackError) as caught:
        render("{a:>5}", {"a": "1"})
    assert caught.value.hint == PLAIN_HINT
    with pytest.raises(StackError) as caught:
        render("{0}", {"0": "1"})
    assert caught.value.hint == PLAIN_HINT
    with pytest.raises(StackError) as caught:
        render("{a", {"a": "1"})
    assert caught.value.hint == SYNTAX_HINT
