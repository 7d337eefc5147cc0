"""graph.expr.constraint: constraint parsing (whitelisted AST, no eval), implication, and version-aware
ordering."""

from __future__ import annotations

import builtins
import itertools
import random

import pytest

from graph.errors import Location, StackError
from graph.expr.constraint import (
    AllOf,
    Attr,
    Comparison,
    Constraint,
    Implication,
    Value,
    parse_constraint,
    version_key,
)

ALLOWED = "(use names, quoted values, comparisons, and/or/not, ->)"


def holds(text: str, **attrs: str) -> bool:
    return parse_constraint(text).holds(attrs)


def error(text: str) -> StackError:
    with pytest.raises(StackError) as caught:
        parse_constraint(text)
    return caught.value


# --- the brief's examples -------------------------------------------------------------------------

CANN = "sdk == 'cann' and framework_version == '2.2.0' -> sdk_version >= '8.0.RC1'"
CUDA = "sdk == 'cuda' -> arch == 'amd64'"
MINDSPORE = "framework == 'mindspore' -> sdk in ('cann', 'cpu')"
OS_SDK = "not (os == '2403lts' and sdk_version < '8.0.RC1')"
PYTHON = "python >= '3.9' and python < '3.12'"


@pytest.mark.parametrize(("text", "attrs", "expected"), [
    (CANN, {"sdk": "cann", "framework_version": "2.2.0", "sdk_version": "8.0.RC1"}, True),
    (CANN, {"sdk": "cann", "framework_version": "2.2.0", "sdk_version": "8.0.0"}, True),
    (CANN, {"sdk": "cann", "framework_version": "2.2.0", "sdk_version": "8.1.RC1"}, True),
    (CANN, {"sdk": "cann", "framework_version": "2.2.0", "sdk_version": "7.0.RC1.alpha002"}, False),
    (CANN, {"sdk": "cann", "framework_version": "2.2.0", "sdk_version": "7.0.0"}, False),
    (CANN, {"sdk": "cann", "framework_version": "2.1.0", "sdk_version": "7.0.0"}, True),
    (CANN, {"sdk": "cuda", "framework_version": "2.2.0", "sdk_version": "7.0.0"}, True),
    (CUDA, {"sdk": "cuda", "arch": "amd64"}, True),
    (CUDA, {"sdk": "cuda", "arch": "arm64"}, False),
    (CUDA, {"sdk": "cann", "arch": "arm64"}, True),
    (CUDA, {"sdk": "cann", "arch": "amd64"}, True),
    (MINDSPORE, {"framework": "mindspore", "sdk": "cann"}, True),
    (MINDSPORE, {"framework": "mindspore", "sdk": "cpu"}, True),
    (MINDSPORE, {"framework": "mindspore", "sdk": "cuda"}, False),
    (MINDSPORE, {"framework": "pytorch", "sdk": "cuda"}, True),
    (OS_SDK, {"os": "2403lts", "sdk_version": "7.0.RC1.alpha002"}, False),
    (OS_SDK, {"os": "2403lts", "sdk_version": "8.0.RC1"}, True),
    (OS_SDK, {"os": "2203sp3", "sdk_version": "7.0.0"}, True),
    (PYTHON, {"python": "3.9"}, True),
    (PYTHON, {"python": "3.11.9"}, True),
    (PYTHON, {"python": "3.10"}, True),
    (PYTHON, {"python": "3.8"}, False),
    (PYTHON, {"python": "3.12"}, False),
    (PYTHON, {"python": "3.12.1"}, False),
])
def test_examples(text: str, attrs: dict[str, str], expected: bool) -> None:
    assert parse_constraint(text).holds(attrs) is expected


def test_extra_attributes_are_ignored() -> None:
    assert holds(CUDA, sdk="cuda", arch="amd64", python="3.11", os="2203sp3") is True


# --- precedence and associativity -----------------------------------------------------------------


def test_arrow_binds_looser_than_or() -> None:
    # (a or b) -> c, not a or (b -> c)
    text = "a == '1' or b == '1' -> c == '1'"
    assert holds(text, a="1", b="0", c="0") is False
    assert holds(text, a="0", b="0", c="0") is True


def test_arrow_binds_looser_than_and() -> None:
    # a -> (b and c), not (a -> b) and c
    text = "a == '1' -> b == '1' and c == '1'"
    assert holds(text, a="0", b="0", c="0") is True
    assert holds(text, a="1", b="1", c="0") is False
    assert holds(text, a="1", b="1", c="1") is True


def test_not_binds_tighter_than_arrow() -> None:
    # (not a) -> b
    text = "not a == '1' -> b == '1'"
    assert holds(text, a="1", b="0") is True
    assert holds(text, a="0", b="0") is False


def test_and_binds_tighter_than_or() -> None:
    text = "a == '1' or b == '1' and c == '1'"
    assert holds(text, a="1", b="0", c="0") is True
    assert holds(text, a="0", b="1", c="0") is False


def test_arrow_is_right_associative() -> None:
    # a -> (b -> c) is true when a is false; (a -> b) -> c would be false here
    text = "a == '1' -> b == '1' -> c == '1'"
    assert holds(text, a="0", b="0", c="0") is True
    assert holds(text, a="1", b="1", c="0") is False
    assert holds(text, a="1", b="0", c="0") is True


def test_arrow_tree_shape() -> None:
    tree = parse_constraint("a == '1' -> b == '2' -> c == '3'").tree
    pairs = zip("abc", "123", strict=True)
    leaf = {name: Comparison(Attr(name), (("==", Value(value)),)) for name, value in pairs}
    assert tree == Implication(leaf["a"], Implication(leaf["b"], leaf["c"]))


@pytest.mark.parametrize(("a", "b", "c"), list(itertools.product("01", repeat=3)))
def test_arrow_truth_table(a: str, b: str, c: str) -> None:
    expected = a != "1" or b != "1" or c == "1"
    assert holds("a == '1' -> b == '1' -> c == '1'", a=a, b=b, c=c) is expected


def test_parentheses_group_and_or() -> None:
    text = "(a == '1' or b == '1') and c == '1'"
    assert holds(text, a="1", b="0", c="0") is False
    assert holds(text, a="1", b="0", c="1") is True


def test_arrow_inside_quotes_is_a_value() -> None:
    text = "a == '->' -> b == \"x->y\""
    assert parse_constraint(text).tree == Implication(
        Comparison(Attr("a"), (("==", Value("->")),)), Comparison(Attr("b"), (("==", Value("x->y")),))
    )
    assert holds(text, a="->", b="x->y") is True
    assert holds(text, a="->", b="x") is False


def test_escaped_quote_does_not_end_the_string() -> None:
    text = r"a == 'it\'s -> fine' -> b == 'x'"
    assert holds(text, a="it's -> fine", b="y") is False
    assert holds(text, a="other", b="y") is True


# --- comparisons ----------------------------------------------------------------------------------


def test_equality_is_plain_string_equality() -> None:
    assert holds("v == '8.0'", v="8.0") is True
    assert holds("v == '8.0'", v="8.00") is False
    assert holds("v != '8.0'", v="8.0.0") is True
    assert holds("v in ('8.0', '9')", v="8.00") is False
    assert holds("v not in ('8.0', '9')", v="8.00") is True
    assert holds("v not in ['8.0', '9']", v="9") is False


def test_in_with_empty_tuple_and_list() -> None:
    assert holds("v in ()", v="x") is False
    assert holds("v not in []", v="x") is True
    assert holds("v in ('x',)", v="x") is True


def test_chained_comparison() -> None:
    text = "'3.9' <= python < '3.12'"
    assert holds(text, python="3.10") is True
    assert holds(text, python="3.12") is False
    assert holds(text, python="3.8") is False
    assert holds("a == b == 'x'", a="x", b="x") is True
    assert holds("a == b == 'x'", a="y", b="y") is False


def test_chain_may_end_with_in() -> None:
    text = "'3.9' <= python in ('3.9', '3.10')"
    assert holds(text, python="3.10") is True
    assert holds(text, python="3.11") is False


def test_name_against_name() -> None:
    assert holds("built >= required", built="8.0.1", required="8.0") is True
    assert holds("built >= required", built="8.0.RC1", required="8.0") is False
    assert holds("built >= required", built="7.0.0", required="8.0") is False


def test_value_on_the_left() -> None:
    assert holds("'8.0' <= v", v="8.0.1") is True
    assert holds("'8.0' > v", v="8.0.RC1") is True


def test_unquoted_numbers_use_their_source_text() -> None:
    # as floats 8.10 == 8.1 < 8.9; as text '8.10' > '8.9'
    assert holds("v < 8.10", v="8.9") is True
    assert holds("v == 8.10", v="8.10") is True
    assert holds("v == 3", v="3") is True
    assert holds("v >= 8.0", v="8.0.RC1") is False
    assert holds("v >= 8.0", v="8.0.0") is True
    assert holds("v in (3.10, 3.11)", v="3.10") is True
    assert parse_constraint("v == 8.10").tree == Comparison(Attr("v"), (("==", Value("8.10")),))


def test_line_breaks_count_as_spaces() -> None:
    text = "sdk == 'cann'\nand python >= '3.9'\n-> arch == 'arm64'"
    assert holds(text, sdk="cann", python="3.10", arch="amd64") is False
    assert holds(text, sdk="cann", python="3.10", arch="arm64") is True


def test_outer_whitespace_is_ignored() -> None:
    assert holds("  a == 'x'  ->   b == 'y' ", a="x", b="y") is True


# --- version order --------------------------------------------------------------------------------

ORDERED_PAIRS = [
    ("8.0.RC1", "8.0"),
    ("8.0.RC1", "8.0.RC2"),
    ("8.0.RC2", "8.0.0"),
    ("8.0.0", "8.0.1"),
    ("8.0.1", "8.1"),
    ("8.1.RC1", "8.1.0"),
    ("7.0.RC1.alpha002", "8.0"),
    ("7.0.RC1.alpha002", "7.0.RC1.alpha003"),
    ("7.0.RC1.alpha002", "7.0.RC1"),
    ("7.0.alpha", "7.0.beta"),
    ("7.0.beta", "7.0.RC1"),
    ("7.0.RC1", "7.0.0"),
    ("2.9.1", "2.10.0"),
    ("3.9", "3.10"),
    ("3.10", "3.11"),
    ("3.11", "3.12"),
    ("3.9.18", "3.10"),
    ("2203sp2", "2203sp3"),
    ("2203sp3", "2403lts"),
    ("2203", "2203sp1"),
    ("2203sp9", "2203sp10"),
    ("1.9", "1.10"),
    ("1.0-rc1", "1.0-1"),
    ("12.1", "12.4.1"),
    ("0", "0.1"),
    ("a", "0"),
    ("cann", "cpu"),
]


@pytest.mark.parametrize(("lower", "higher"), ORDERED_PAIRS)
def test_version_key_orders_pairs(lower: str, higher: str) -> None:
    assert version_key(lower) < version_key(higher)
    assert version_key(higher) > version_key(lower)


@pytest.mark.parametrize(("lower", "higher"), ORDERED_PAIRS)
def test_comparison_operators_follow_version_key(lower: str, higher: str) -> None:
    attrs = {"lo": lower, "hi": higher}
    assert parse_constraint("lo < hi").holds(attrs) is True
    assert parse_constraint("lo <= hi").holds(attrs) is True
    assert parse_constraint("lo > hi").holds(attrs) is False
    assert parse_constraint("lo >= hi").holds(attrs) is False
    assert parse_constraint("hi > lo").holds(attrs) is True
    assert parse_constraint("hi >= lo").holds(attrs) is True
    assert parse_constraint("hi < lo").holds(attrs) is False
    assert parse_constraint("hi <= lo").holds(attrs) is False


@pytest.mark.parametrize("value", ["8.0", "8.0.RC1", "", "2403lts", "x"])
def test_equal_values_are_both_le_and_ge(value: str) -> None:
    attrs = {"a": value, "b": value}
    assert parse_constraint("a <= b and a >= b and not a < b and not a > b").holds(attrs) is True


EQUAL_VALUES = [("8.0", "8.00"), ("8.0", "8.0.0"), ("12.4", "12.4.0"), ("RC1", "rc1"), ("", "0"),
                ("2.5.0-rc1", "2.5.0rc1"), ("1.0-1", "1.0.post1")]


@pytest.mark.parametrize(("first", "second"), EQUAL_VALUES)
def test_equal_versions_compare_equal(first: str, second: str) -> None:
    assert version_key(first) == version_key(second)
    assert parse_constraint("a <= b and a >= b").holds({"a": first, "b": second}) is True


def test_version_key_is_a_total_order() -> None:
    values = sorted({value for pair in ORDERED_PAIRS for value in pair})
    for a, b in itertools.product(values, repeat=2):
        ka, kb = version_key(a), version_key(b)
        assert sum((ka < kb, ka == kb, ka > kb)) == 1
        assert (ka == kb) is (a == b or {a, b} in ({"8.0", "8.0.0"}, {"8.1", "8.1.0"}))


def test_sorting_a_release_series() -> None:
    expected = [
        "7.0.RC1.alpha002", "7.0.RC1", "7.0.0", "8.0.RC1", "8.0.RC2", "8.0.RC3", "8.0.0", "8.0.1",
        "8.1.RC1", "8.1.0", "8.10.0",
    ]
    shuffled = expected[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=version_key) == expected


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "names"), [
    (CANN, {"sdk", "framework_version", "sdk_version"}),
    (CUDA, {"sdk", "arch"}),
    (MINDSPORE, {"framework", "sdk"}),
    (OS_SDK, {"os", "sdk_version"}),
    (PYTHON, {"python"}),
    ("'3.9' <= python < top", {"python", "top"}),
    ("'a' == 'a'", set()),
    ("a == 'x' -> b == 'y' -> not (c == d or e in ('z',))", {"a", "b", "c", "d", "e"}),
])
def test_names(text: str, names: set[str]) -> None:
    constraint = parse_constraint(text)
    assert constraint.names == frozenset(names)
    assert constraint.text == text


def test_equal_texts_give_equal_constraints() -> None:
    first, second = parse_constraint(CUDA), parse_constraint(CUDA)
    assert first == second
    assert hash(first) == hash(second)
    assert isinstance(first, Constraint)
    assert first != parse_constraint(CANN)


# --- missing attributes ---------------------------------------------------------------------------


def test_missing_attribute_message() -> None:
    constraint = parse_constraint(CUDA)
    with pytest.raises(StackError) as caught:
        constraint.holds({"sdk": "cuda", "os": "2203sp3", "python": "3.11"})
    assert caught.value.message == f"constraint {CUDA!r}: unknown attribute 'arch' (known: os, python, sdk)"
    assert caught.value.hint == "check the spelling, or give every matrix combination that attribute"


def test_missing_attribute_is_reported_even_when_not_needed() -> None:
    # the premise is false, so `arch` would never be read: the error must not depend on the data
    with pytest.raises(StackError, match="unknown attribute 'arch'"):
        parse_constraint(CUDA).holds({"sdk": "cann"})


def test_missing_attribute_with_no_attributes() -> None:
    with pytest.raises(StackError) as caught:
        parse_constraint("x == 'a'").holds({})
    assert caught.value.message == "constraint \"x == 'a'\": unknown attribute 'x' (known: none)"


def test_first_missing_attribute_in_name_order() -> None:
    with pytest.raises(StackError, match=r"unknown attribute 'b' \(known: z\)"):
        parse_constraint("d == 'x' and b == 'y'").holds({"z": "1"})


# --- forbidden constructs -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "construct"), [
    ("__import__('os').system('x')", "function call \"__import__('os').system('x')\""),
    ("open('f')", "function call \"open('f')\""),
    ("len(x) == '1'", "function call 'len(x)'"),
    ("a.b == 'x'", "attribute access 'a.b'"),
    ("x[0] == 'y'", "subscript 'x[0]'"),
    ("lambda: 1", "lambda 'lambda: 1'"),
    ("(y := 1)", "assignment expression (:=) 'y := 1'"),
    ("x == f'{y}'", "f-string \"f'{y}'\""),
    ("[c for c in x] == 'y'", "comprehension '[c for c in x]'"),
    ("{c for c in x} == 'y'", "comprehension '{c for c in x}'"),
    ("{c: c for c in x} == 'y'", "comprehension '{c: c for c in x}'"),
    ("x in (c for c in 'ab')", "generator expression \"(c for c in 'ab')\""),
    ("x == y if z else w", "conditional expression (if/else) 'x == y if z else w'"),
    ("x + 'a' == 'b'", "arithmetic operator \"x + 'a'\""),
    ("x == -1", "unary operator '-1'"),
    ("x == {'a': 1}", "dict \"{'a': 1}\""),
    ("x == {'a'}", "set \"{'a'}\""),
    ("x == ('a', 'b')", "tuple \"('a', 'b')\""),
    ("x == ['a']", "list \"['a']\""),
    ("x in (*y,)", "starred expression '*y'"),
    ("x in _y", "name '_y'"),
    ("x in f(y)", "function call 'f(y)'"),
    ("x is None", "operator 'is'"),
    ("x is not y", "operator 'is not'"),
    ("x == None", "constant 'None'"),
    ("x == True", "constant 'True'"),
    ("x == b'a'", "constant \"b'a'\""),
    ("x == 1j", "constant '1j'"),
    ("x == ...", "constant '...'"),
    ("_x == 'a'", "name '_x'"),
    ("x == __builtins__", "name '__builtins__'"),
    ("x in ('a', __file__)", "name '__file__'"),
    ("x in ('a', ('b',))", "tuple \"('b',)\""),
    ("a == 'x' -> b.c == 'y'", "attribute access 'b.c'"),
    ("not x.y", "attribute access 'x.y'"),
    ("a == 'x' and print('hi')", "function call \"print('hi')\""),
])
def test_forbidden_constructs(text: str, construct: str) -> None:
    caught = error(text)
    assert str(caught) == f"constraint {text!r}: {construct} is not allowed {ALLOWED}"


def test_forbidden_error_carries_location() -> None:
    where = Location("stacks/ai/stack.yaml", 12)
    with pytest.raises(StackError) as caught:
        parse_constraint("open('f')", location=where)
    assert caught.value.location == where
    assert str(caught.value).startswith("stacks/ai/stack.yaml:12: constraint \"open('f')\": function call")


@pytest.mark.parametrize(("text", "message"), [
    ("sdk", "constraint 'sdk': name 'sdk' is a value, not a condition"),
    ("'cann'", "constraint \"'cann'\": constant \"'cann'\" is a value, not a condition"),
    ("a == 'x' and 'b'", "constraint \"a == 'x' and 'b'\": constant \"'b'\" is a value, not a condition"),
    ("a -> b == 'x'", "constraint \"a -> b == 'x'\": name 'a' is a value, not a condition"),
    ("not sdk", "constraint 'not sdk': name 'sdk' is a value, not a condition"),
])
def test_bare_values_are_not_conditions(text: str, message: str) -> None:
    assert error(text).message == message


@pytest.mark.parametrize(("text", "message", "hint"), [
    ("x in 'abc'", "constraint \"x in 'abc'\": 'in' needs a tuple of values, not the string 'abc'",
     "write a single choice as ('abc',)"),
    ("x in ('abc')", "constraint \"x in ('abc')\": 'in' needs a tuple of values, not the string 'abc'",
     "write a single choice as ('abc',)"),
    ("x in y", "constraint 'x in y': 'in' needs a tuple of values, not name 'y'",
     "write e.g. sdk in ('cann', 'cpu')"),
    ("x in 3", "constraint 'x in 3': 'in' needs a tuple of values, not constant '3'",
     "write e.g. sdk in ('cann', 'cpu')"),
    ("x in [y]", "constraint 'x in [y]': the choices after 'in' must be values, not the name 'y'",
     "quote it: 'y'"),
    ("x in ('a',) == y", "constraint \"x in ('a',) == y\": 'in' must end its comparison chain",
     "split the chain with 'and'"),
    ("x not in ('a',) < y", "constraint \"x not in ('a',) < y\": 'not in' must end its comparison chain",
     "split the chain with 'and'"),
])
def test_in_needs_a_tuple(text: str, message: str, hint: str) -> None:
    caught = error(text)
    assert caught.message == message
    assert caught.hint == hint


def test_no_eval_or_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("eval/exec must not be called")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    assert holds(CANN, sdk="cann", framework_version="2.2.0", sdk_version="8.0.RC1") is True
    with pytest.raises(StackError):
        parse_constraint("__import__('os').system('x')")


# --- syntax errors --------------------------------------------------------------------------------

SYNTAX_HINT = (
    "write e.g. sdk == 'cann' and python >= '3.9' -> arch == 'amd64'; quote values with several dots "
    "('8.0.1'); -> is allowed only outside parentheses"
)


@pytest.mark.parametrize(("text", "tail"), [
    ("x == 8.0.1", ": syntax error at column 9: invalid syntax"),
    ("a == 'b' -> c == 8.0.1", ": syntax error at column 21: invalid syntax"),
    ("x == 'a", ": syntax error at column 6: unterminated string literal (detected at line 1)"),
    ("(x == 'a'", ": syntax error at column 1: '(' was never closed"),
    ("x = 'a'", ": syntax error at column 3: invalid syntax"),
    ("x == 'a' and", ": syntax error: invalid syntax"),
    ("a == 'b') -> (c == 'd'", ": syntax error at column 9: unmatched ')'"),
    ("x == 'a\x00'", ": syntax error: text cannot contain null bytes"),
    ("", " is empty"),
    ("   ", " is empty"),
    ("a == 'b' ->", ": '->' needs a condition on each side"),
    ("-> a == 'b'", ": '->' needs a condition on each side"),
    ("a == 'b' -> -> c == 'd'", ": '->' needs a condition on each side"),
])
def test_syntax_errors(text: str, tail: str) -> None:
    caught = error(text)
    assert caught.message == f"constraint {text!r}{tail}"
    assert caught.hint == SYNTAX_HINT


def test_arrow_inside_parentheses_is_rejected() -> None:
    caught = error("not (a == 'b' -> c == 'd')")
    assert caught.message == (
        "constraint \"not (a == 'b' -> c == 'd')\": '->' is not allowed inside parentheses"
    )
    assert caught.hint == "put the implication at the top level, or write 'not a or b'"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(StackError, match="is nested more than 100 deep"):
        parse_constraint("not " * 100_000 + "x == 'a'")
    with pytest.raises(StackError, match="is nested more than 100 deep"):
        parse_constraint("not " * 150 + "x == 'a'")  # fine for the parser, too deep to evaluate per node
    with pytest.raises(StackError, match="is nested more than 100 deep"):
        parse_constraint(" -> ".join(["x == 'a'"] * 3000))


def test_nesting_up_to_the_limit_is_fine() -> None:
    constraint = parse_constraint(" -> ".join(["x == 'a'"] * 99))
    assert constraint.holds({"x": "a"})
    with pytest.raises(StackError, match="too many nested parentheses"):
        parse_constraint("(" * 300 + "x == 'a'" + ")" * 300)


def test_moderate_nesting_is_fine() -> None:
    assert holds("not " * 40 + "x == 'a'", x="a") is True
    assert holds("(" * 50 + "x == 'a'" + ")" * 50, x="a") is True


def test_non_string_constraint() -> None:
    with pytest.raises(StackError) as caught:
        parse_constraint(8.0)  # type: ignore[arg-type]
    assert caught.value.message == "constraint 8.0 must be a string"


def test_tree_of_and() -> None:
    tree = parse_constraint("a == 'x' and b != 'y'").tree
    assert tree == AllOf((
        Comparison(Attr("a"), (("==", Value("x")),)),
        Comparison(Attr("b"), (("!=", Value("y")),)),
    ))


@pytest.mark.parametrize("text", ["ｘ == '1'", "'1' == ｘ", "x == '1' -> ﬁ != '2'"])
def test_a_name_python_would_read_as_another_is_refused(text: str) -> None:
    caught = error(text)
    assert "is not an ASCII name" in caught.message
    assert caught.hint == "attribute names are ASCII letters, digits and '_'"


def test_ascii_names_are_read_as_written() -> None:
    assert holds("x_1 == '1' and X == '2'", x_1="1", X="2")
