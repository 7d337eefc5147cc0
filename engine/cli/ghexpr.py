"""GitHub Actions expressions (`${{ ... }}`) in the --ci- values: where each one ends, and what is wrong."""

from __future__ import annotations

OPEN, CLOSE = "${{", "}}"


class ExpressionProblem(ValueError):
    """A `${{` with no end, or with nothing in it."""


def _end(value: str, start: int) -> int:
    """Index just past the `}}` closing the expression opened at start; a `}}` inside a quoted
    string ('...', with '' for a quote) does not close it."""
    index, quoted = start + len(OPEN), False
    while index < len(value):
        if value[index] == "'":
            quoted = not quoted  # '' inside a string closes and reopens it: the same state after both
        elif not quoted and value.startswith(CLOSE, index):
            return index + len(CLOSE)
        index += 1
    raise ExpressionProblem(f"{value!r} opens a ${{{{ expression that never ends with }}}}")


def outside_expressions(value: str) -> str:
    """value with each expression replaced by `x`; ExpressionProblem for an open or empty one."""
    parts, index = [], 0
    while (start := value.find(OPEN, index)) >= 0:
        end = _end(value, start)
        if not value[start + len(OPEN):end - len(CLOSE)].strip():
            raise ExpressionProblem(f"{value!r} holds an empty ${{{{ }}}} expression")
        parts += [value[index:start], "x"]
        index = end
    return "".join(parts) + value[index:]


def expression_problem(value: str) -> str:
    """Why value's expressions are not ones GitHub evaluates, or ''."""
    try:
        outside_expressions(value)
    except ExpressionProblem as problem:
        return str(problem)
    return ""
