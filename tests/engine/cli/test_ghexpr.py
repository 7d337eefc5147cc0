"""GitHub Actions expressions in the --ci- values (engine/cli/ghexpr.py)."""

from __future__ import annotations

import pytest

from engine.cli.ghexpr import ExpressionProblem, expression_problem, outside_expressions


@pytest.mark.parametrize(("value", "outside"), [
    ("docker:26", "docker:26"),
    ("${{ vars.IMAGE }}", "x"),
    ("r.example/${{ vars.IMAGE }}:${{ vars.TAG }}", "r.example/x:x"),
    ("${{ format('{0}-{1}', vars.A, vars.B) }}", "x"),
    ("${{ format('}}{0}', vars.A) }}/x", "x/x"),
    ("${{ format('it''s }}', vars.A) }}", "x"),
    ("${{ fromJSON('{\"a\": 1}').a }}", "x"),
    ("make setup && echo ${{ github.sha }}", "make setup && echo x"),
])
def test_each_expression_ends_at_its_own_closing_braces(value: str, outside: str) -> None:
    assert outside_expressions(value) == outside
    assert expression_problem(value) == ""


@pytest.mark.parametrize(("value", "problem"), [
    ("${{ }}", "holds an empty ${{ }} expression"),
    ("r/${{}}", "holds an empty ${{ }} expression"),
    ("${{ vars.A", "opens a ${{ expression that never ends with }}"),
    ("${{ format('}}', vars.A)", "never ends"),
    ("${{ vars.A }} ${{ ", "never ends"),
])
def test_an_open_or_empty_expression_is_named(value: str, problem: str) -> None:
    assert problem in expression_problem(value)
    with pytest.raises(ExpressionProblem):
        outside_expressions(value)
