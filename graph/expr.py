"""Compatibility constraints over a matrix combination's string attributes, parsed without eval.

Grammar: `condition (-> condition)*`, where `->` is implication (lowest precedence, right-associative,
only at the top level) and each condition is a Python expression restricted to names, quoted values,
unquoted numbers (taken by their source text), comparisons (==, !=, <, <=, >, >=, in, not in; chains
allowed), `and`, `or`, `not` and parentheses.  `in` / `not in` take a tuple or list of values.

`==`, `!=`, `in` compare plain strings; `<`, `<=`, `>`, `>=` compare by `version_key`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from graph.errors import Location, StackError

ALLOWED = "use names, quoted values, comparisons, and/or/not, ->"
SYNTAX_HINT = (
    "write e.g. sdk == 'cann' and python >= '3.9' -> arch == 'amd64'; quote values with several dots "
    "('8.0.1'); -> is allowed only outside parentheses"
)
_PART_SPLIT = re.compile(r"[\W_]+")
_RUN = re.compile(r"[0-9]+|[^0-9]+")
_OPERATORS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}
_CONSTRUCTS: tuple[tuple[type[ast.AST], str], ...] = (
    (ast.Call, "function call"), (ast.Attribute, "attribute access"), (ast.Subscript, "subscript"),
    (ast.Lambda, "lambda"), (ast.JoinedStr, "f-string"), (ast.NamedExpr, "assignment expression (:=)"),
    (ast.ListComp, "comprehension"), (ast.SetComp, "comprehension"), (ast.DictComp, "comprehension"),
    (ast.GeneratorExp, "generator expression"), (ast.IfExp, "conditional expression (if/else)"),
    (ast.BinOp, "arithmetic operator"), (ast.UnaryOp, "unary operator"), (ast.Dict, "dict"),
    (ast.Set, "set"), (ast.Starred, "starred expression"), (ast.Await, "await"), (ast.Slice, "slice"),
    (ast.Yield, "yield"), (ast.YieldFrom, "yield"), (ast.Tuple, "tuple"), (ast.List, "list"),
)

Atom = tuple[int, int, str]
VersionKey = tuple[tuple[tuple[Atom, ...], ...], str]


# --- the compiled tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attr:
    """An attribute of the combination, looked up by name."""

    name: str


@dataclass(frozen=True)
class Value:
    """A literal value (quoted string, or a number's source text)."""

    text: str


@dataclass(frozen=True)
class Choices:
    """The tuple or list of values on the right of `in` / `not in`."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    """A (possibly chained) comparison: first op1 x1 op2 x2 ..."""

    first: Attr | Value
    links: tuple[tuple[str, Attr | Value | Choices], ...]


@dataclass(frozen=True)
class Negation:
    """`not item`."""

    item: Condition


@dataclass(frozen=True)
class AllOf:
    """`a and b and ...`."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """`a or b or ...`."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Implication:
    """`premise -> conclusion`, i.e. `not premise or conclusion`."""

    premise: Condition
    conclusion: Condition


Condition = Comparison | Negation | AllOf | AnyOf | Implication


# --- version order --------------------------------------------------------------------------------


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


# --- evaluation -----------------------------------------------------------------------------------


def _resolve(operand: Attr | Value, attrs: Mapping[str, str]) -> str:
    """The string an operand stands for."""
    return attrs[operand.name] if isinstance(operand, Attr) else operand.text


def _compare(op: str, left: str, right: str) -> bool:
    """Apply a comparison operator (not `in`) to two strings."""
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    lkey, rkey = version_key(left), version_key(right)
    return {"<": lkey < rkey, "<=": lkey <= rkey, ">": lkey > rkey, ">=": lkey >= rkey}[op]


def _comparison_holds(comparison: Comparison, attrs: Mapping[str, str]) -> bool:
    """Whether every link of a comparison chain holds."""
    left = _resolve(comparison.first, attrs)
    for op, operand in comparison.links:
        if isinstance(operand, Choices):
            return (left in operand.values) == (op == "in")
        right = _resolve(operand, attrs)
        if not _compare(op, left, right):
            return False
        left = right
    return True


def evaluate(condition: Condition, attrs: Mapping[str, str]) -> bool:
    """Whether a compiled condition holds for attrs (every name must be present)."""
    match condition:
        case Comparison():
            return _comparison_holds(condition, attrs)
        case Negation(item):
            return not evaluate(item, attrs)
        case AllOf(items):
            return all(evaluate(item, attrs) for item in items)
        case AnyOf(items):
            return any(evaluate(item, attrs) for item in items)
        case Implication(premise, conclusion):
            return not evaluate(premise, attrs) or evaluate(conclusion, attrs)


def names_of(condition: Condition) -> frozenset[str]:
    """Every attribute name a compiled condition mentions."""
    match condition:
        case Comparison(first, links):
            operands = (first, *(operand for _, operand in links))
            return frozenset(operand.name for operand in operands if isinstance(operand, Attr))
        case Negation(item):
            return names_of(item)
        case AllOf(items) | AnyOf(items):
            return frozenset().union(*(names_of(item) for item in items))
        case Implication(premise, conclusion):
            return names_of(premise) | names_of(conclusion)


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: its source text, the names it mentions, and its compiled tree."""

    text: str
    names: frozenset[str]
    tree: Condition = field(repr=False, compare=False)

    def holds(self, attrs: Mapping[str, str]) -> bool:
        """Whether the constraint holds for one combination's attributes."""
        missing = sorted(self.names - attrs.keys())
        if missing:
            known = ", ".join(sorted(attrs)) or "none"
            raise StackError(
                f"constraint {self.text!r}: unknown attribute {missing[0]!r} (known: {known})",
                hint="check the spelling, or give every matrix combination that attribute",
            )
        return evaluate(self.tree, attrs)


# --- parsing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """One `->`-free side being compiled: the whole constraint text (for messages) and the side."""

    text: str
    side: str
    location: Location | None


def _forbidden(src: _Source, construct: str) -> StackError:
    """The error for a construct outside the whitelist."""
    return StackError(f"constraint {src.text!r}: {construct} is not allowed", src.location, hint=ALLOWED)


def _describe(src: _Source, node: ast.AST) -> str:
    """A short human name for a rejected node, with its source text."""
    kind = next((label for cls, label in _CONSTRUCTS if isinstance(node, cls)), type(node).__name__)
    if isinstance(node, ast.Name):
        kind = "name"
    elif isinstance(node, ast.Constant):
        kind = "constant"
    segment = ast.get_source_segment(src.side, node)
    return f"{kind} {segment!r}" if segment else kind


def _value(src: _Source, node: ast.expr) -> str:
    """The text of a literal: a string as is, an int/float by its source text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return ast.get_source_segment(src.side, node) or str(node.value)
    raise _forbidden(src, _describe(src, node))


def _operand(src: _Source, node: ast.expr) -> Attr | Value:
    """A name or a literal on either side of a comparison."""
    if isinstance(node, ast.Name) and not node.id.startswith("_"):
        return Attr(node.id)
    return Value(_value(src, node))


def _choices(src: _Source, node: ast.expr) -> Choices:
    """The tuple or list of literals on the right of `in` / `not in`."""
    if isinstance(node, ast.Tuple | ast.List):
        names = [item.id for item in node.elts if isinstance(item, ast.Name) and not item.id.startswith("_")]
        if names:
            raise StackError(
                f"constraint {src.text!r}: the choices after 'in' must be values, not the name {names[0]!r}",
                src.location,
                hint=f"quote it: {names[0]!r}",
            )
        return Choices(tuple(_value(src, item) for item in node.elts))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        raise StackError(
            f"constraint {src.text!r}: 'in' needs a tuple of values, not the string {node.value!r}",
            src.location,
            hint=f"write a single choice as ({node.value!r},)",
        )
    if isinstance(node, ast.Constant) or (isinstance(node, ast.Name) and not node.id.startswith("_")):
        raise StackError(
            f"constraint {src.text!r}: 'in' needs a tuple of values, not {_describe(src, node)}",
            src.location,
            hint="write e.g. sdk in ('cann', 'cpu')",
        )
    raise _forbidden(src, _describe(src, node))


def _comparison(src: _Source, node: ast.Compare) -> Comparison:
    """Compile a comparison chain; a tuple may only close the chain, after `in` / `not in`."""
    links: list[tuple[str, Attr | Value | Choices]] = []
    last = len(node.ops) - 1
    for index, (op, right) in enumerate(zip(node.ops, node.comparators, strict=True)):
        symbol = _OPERATORS.get(type(op))
        if symbol is None:
            raise _forbidden(src, f"operator {'is' if isinstance(op, ast.Is) else 'is not'!r}")
        if symbol in ("in", "not in") and index != last:
            raise StackError(f"constraint {src.text!r}: '{symbol}' must end its comparison chain",
                             src.location, hint="split the chain with 'and'")
        links.append((symbol, _choices(src, right) if symbol in ("in", "not in") else _operand(src, right)))
    return Comparison(_operand(src, node.left), tuple(links))


def _condition(src: _Source, node: ast.expr) -> Condition:
    """Compile one node that must be a condition (comparison, and/or, not)."""
    if isinstance(node, ast.Compare):
        return _comparison(src, node)
    if isinstance(node, ast.BoolOp):
        items = tuple(_condition(src, value) for value in node.values)
        return AllOf(items) if isinstance(node.op, ast.And) else AnyOf(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Negation(_condition(src, node.operand))
    if isinstance(node, ast.Name | ast.Constant):
        _operand(src, node)
        raise StackError(
            f"constraint {src.text!r}: {_describe(src, node)} is a value, not a condition",
            src.location,
            hint="compare it, e.g. sdk == 'cann'",
        )
    raise _forbidden(src, _describe(src, node))


def _arrows(text: str) -> list[tuple[int, int]]:
    """Index and bracket depth of every `->` outside quotes."""
    found: list[tuple[int, int]] = []
    depth, quote, index = 0, "", 0
    while index < len(text):
        char = text[index]
        if quote and char == "\\":
            index += 1
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif text.startswith("->", index):
            found.append((index, depth))
        index += 1
    return found


def _syntax_error(text: str, start: int, exc: SyntaxError, location: Location | None) -> StackError:
    """The error for a side that Python's parser rejects (column counted in the whole text)."""
    column = f" at column {start + exc.offset}" if exc.offset else ""
    reason = exc.msg.replace("source code string", "text")
    return StackError(f"constraint {text!r}: syntax error{column}: {reason}", location, hint=SYNTAX_HINT)


def _side(text: str, flat: str, bounds: tuple[int, int], location: Location | None) -> Condition:
    """Parse and compile flat[start:end], a side without a top-level `->` (text is for messages)."""
    start, end = bounds
    raw = flat[start:end]
    side = raw.lstrip()
    if not side.strip():
        empty = start == 0 and end == len(text)
        what = " is empty" if empty else ": '->' needs a condition on each side"
        raise StackError(f"constraint {text!r}{what}", location, hint=SYNTAX_HINT)
    try:
        tree = ast.parse(side, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(text, start + len(raw) - len(side), exc, location) from None
    except MemoryError:
        raise RecursionError("parser stack overflow") from None
    return _condition(_Source(text, side, location), tree.body)


def _compile(text: str, location: Location | None) -> Condition:
    """Split at top-level arrows and fold the sides right-associatively."""
    flat = text.replace("\r", " ").replace("\n", " ")
    arrows = _arrows(flat)
    if any(depth > 0 for _, depth in arrows):
        raise StackError(f"constraint {text!r}: '->' is not allowed inside parentheses", location,
                         hint="put the implication at the top level, or write 'not a or b'")
    cuts = [index for index, depth in arrows if depth == 0]
    bounds = list(zip([0, *(cut + 2 for cut in cuts)], [*cuts, len(flat)], strict=True))
    sides = [_side(text, flat, pair, location) for pair in bounds]
    result = sides[-1]
    for premise in reversed(sides[:-1]):
        result = Implication(premise, result)
    return result


def parse_constraint(text: str, *, location: Location | None = None) -> Constraint:
    """Parse a constraint, raising StackError on syntax errors and forbidden constructs."""
    if not isinstance(text, str):
        raise StackError(f"constraint {text!r} must be a string", location, hint="quote the whole constraint")
    try:
        tree = _compile(text, location)
    except RecursionError:
        message = f"constraint {text[:60]!r}... is nested too deeply"
        raise StackError(message, location, hint=SYNTAX_HINT) from None
    return Constraint(text, names_of(tree), tree)
