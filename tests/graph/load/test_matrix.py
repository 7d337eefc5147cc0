"""graph.load.matrix: the product of a definition's axes, minus excludes, plus includes (pure)."""

from __future__ import annotations

import pytest

from graph.load.matrix import combinations, unused_rules

OS = ("os", ["2203sp3", "2403lts"])
PY = ("python", ["3.10", "3.11", "3.12"])


# --- the product --------------------------------------------------------------------------------


def test_no_axes_is_no_combination() -> None:
    assert combinations([]) == []


def test_one_axis_gives_one_combination_per_value_in_order() -> None:
    assert combinations([OS]) == [{"os": "2203sp3"}, {"os": "2403lts"}]


def test_two_axes_give_the_product_first_axis_slowest() -> None:
    assert combinations([OS, PY]) == [
        {"os": "2203sp3", "python": "3.10"}, {"os": "2203sp3", "python": "3.11"},
        {"os": "2203sp3", "python": "3.12"}, {"os": "2403lts", "python": "3.10"},
        {"os": "2403lts", "python": "3.11"}, {"os": "2403lts", "python": "3.12"},
    ]


def test_axis_order_decides_key_order_and_combination_order() -> None:
    combos = combinations([PY, OS])
    assert [list(combo) for combo in combos] == [["python", "os"]] * 6
    assert [tuple(combo.values()) for combo in combos] == [
        ("3.10", "2203sp3"), ("3.10", "2403lts"), ("3.11", "2203sp3"),
        ("3.11", "2403lts"), ("3.12", "2203sp3"), ("3.12", "2403lts"),
    ]


def test_three_axes_count() -> None:
    assert len(combinations([OS, PY, ("sdk", ["cann", "cuda"])])) == 12


def test_an_axis_without_values_empties_the_product() -> None:
    assert combinations([OS, ("python", [])]) == []


def test_values_may_be_any_sequence() -> None:
    assert combinations([("os", ("a", "b"))]) == [{"os": "a"}, {"os": "b"}]


# --- exclude ------------------------------------------------------------------------------------


def test_exclude_with_one_key_drops_every_combination_with_that_value() -> None:
    assert combinations([OS, PY], exclude=[{"python": "3.11"}]) == [
        {"os": "2203sp3", "python": "3.10"}, {"os": "2203sp3", "python": "3.12"},
        {"os": "2403lts", "python": "3.10"}, {"os": "2403lts", "python": "3.12"},
    ]


def test_exclude_with_two_keys_drops_only_the_combination_having_both() -> None:
    assert combinations([OS, PY], exclude=[{"os": "2203sp3", "python": "3.12"}]) == [
        {"os": "2203sp3", "python": "3.10"}, {"os": "2203sp3", "python": "3.11"},
        {"os": "2403lts", "python": "3.10"}, {"os": "2403lts", "python": "3.11"},
        {"os": "2403lts", "python": "3.12"},
    ]


def test_several_excludes_each_drop() -> None:
    assert combinations([OS, PY], exclude=[{"os": "2203sp3"}, {"python": "3.10"}]) == [
        {"os": "2403lts", "python": "3.11"}, {"os": "2403lts", "python": "3.12"},
    ]


@pytest.mark.parametrize("rule", [{"os": "2303"}, {"arch": "amd64"}, {"os": "2203sp3", "python": "2.7"}])
def test_exclude_matching_nothing_drops_nothing(rule: dict[str, str]) -> None:
    assert combinations([OS, PY], exclude=[rule]) == combinations([OS, PY])


def test_exclude_may_drop_everything() -> None:
    assert combinations([OS], exclude=[{"os": "2203sp3"}, {"os": "2403lts"}]) == []


# --- include ------------------------------------------------------------------------------------


def test_include_appends_a_new_combination_after_the_product() -> None:
    assert combinations([OS], include=[{"os": "2503"}]) == [
        {"os": "2203sp3"}, {"os": "2403lts"}, {"os": "2503"}]


def test_include_already_in_the_product_is_not_repeated() -> None:
    assert combinations([OS], include=[{"os": "2403lts"}]) == [{"os": "2203sp3"}, {"os": "2403lts"}]


def test_include_repeated_in_the_list_is_added_once() -> None:
    assert combinations([OS], include=[{"os": "x"}, {"os": "x"}]) == [
        {"os": "2203sp3"}, {"os": "2403lts"}, {"os": "x"}]


def test_include_with_other_keys_is_a_combination_of_its_own() -> None:
    assert combinations([OS], include=[{"os": "2203sp3", "python": "3.9"}]) == [
        {"os": "2203sp3"}, {"os": "2403lts"}, {"os": "2203sp3", "python": "3.9"}]


def test_include_wins_over_exclude() -> None:
    assert combinations([OS], include=[{"os": "2203sp3"}], exclude=[{"os": "2203sp3"}]) == [
        {"os": "2403lts"}, {"os": "2203sp3"}]


def test_include_without_axes() -> None:
    assert combinations([], include=[{"os": "a"}, {"os": "b", "python": "3.11"}]) == [
        {"os": "a"}, {"os": "b", "python": "3.11"}]


def test_included_combinations_are_copies() -> None:
    rule = {"os": "x"}
    combos = combinations([], include=[rule])
    combos[0]["os"] = "changed"
    assert rule == {"os": "x"}


# --- unused exclude rules -----------------------------------------------------------------------


def test_rules_that_match_are_used() -> None:
    assert unused_rules([OS, PY], [{"os": "2203sp3"}, {"os": "2403lts", "python": "3.12"}]) == []


def test_unused_rules_are_listed_by_index() -> None:
    rules = [{"os": "2203sp3"}, {"os": "2303"}, {"python": "3.11"}, {"arch": "amd64"},
             {"os": "2203sp3", "python": "2.7"}]
    assert unused_rules([OS, PY], rules) == [1, 3, 4]


def test_a_rule_whose_combinations_another_rule_drops_is_still_used() -> None:
    assert unused_rules([OS], [{"os": "2203sp3"}, {"os": "2203sp3"}]) == []


def test_without_axes_every_rule_is_unused() -> None:
    assert unused_rules([], [{"os": "a"}, {"python": "3.11"}]) == [0, 1]


def test_no_rules_none_unused() -> None:
    assert unused_rules([OS], []) == []
