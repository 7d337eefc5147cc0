"""Compile constraint text into a graph.expr.tree Condition: split at top-level `->`, whitelist the AST.

The grammar is described in graph.expr.constraint; nothing is ever passed to eval or exec.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from graph.errors import Location, StackError
from graph.expr.tree import AllOf, AnyOf, Attr, Choices, Comparison, Condition, Implication, Negation, Value

ALLOWED = "use names, quoted values, comparisons, and/or/not, ->"
SYNTAX_HINT = (
    "write e.g. sdk == 'cann' and python >= '3.9' -> arch == 'amd64'; quote values with several dots "
    "('8.0.1'); -> is allowed only outside parentheses"
)
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
        written = ast.get_source_segment(src.side, node)
        if written != node.id:  # Python reads 'ｘ' as 'x' (NFKC): a lookalike would test another attribute
            raise StackError(f"constraint {src.text!r}: the name {written!r} is not an ASCII name",
                             src.location, hint="attribute names are ASCII letters, digits and '_'")
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
    if "\x00" in side:  # Python before 3.11.4 raises ValueError here, later ones SyntaxError
        raise StackError(f"constraint {text!r}: syntax error: text cannot contain null bytes", location,
                         hint=SYNTAX_HINT)
    try:
        tree = ast.parse(side, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(text, start + len(raw) - len(side), exc, location) from None
    except MemoryError:
        raise RecursionError("parser stack overflow") from None
    return _condition(_Source(text, side, location), tree.body)


def compile_condition(text: str, location: Location | None) -> Condition:
    """The tree of text: split at top-level arrows, compile each side, fold them right-associatively."""
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
