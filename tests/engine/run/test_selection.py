"""Selections and narrowed platforms through api.build with the fakes: only what a selection needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.run import api
from engine.run.settings import BuildSettings
from graph.errors import StackError
from tests.engine.engine_fakes import FakeBuilder, FakeRegistry, human_ref
from tests.engine.run.builds import options_of


def test_building_one_leaf_builds_only_what_it_needs(root: Path) -> None:
    registry = FakeRegistry()
    builder = FakeBuilder(registry)
    report = api.build(options_of(root, select=("leaf",)), builder, BuildSettings(), registry)
    assert report.status == "succeeded"
    assert builder.order == ["base", "mid", "leaf"]
    assert sorted(report.nodes) == ["base", "leaf", "mid"]
    assert report.promoted == [human_ref("base"), human_ref("mid"), human_ref("leaf")]


def test_a_glob_selects_by_name(root: Path) -> None:
    plan = api.plan(options_of(root, select=("s*", "oth?r")))
    assert [entry.node for entry in plan] == ["base", "other", "side"]


def test_an_unknown_name_is_a_clear_error(root: Path) -> None:
    with pytest.raises(StackError, match="no node name or tag matches 'nothing'"):
        api.plan(options_of(root, select=("nothing",)))


def test_narrowed_platforms_build_those_only_and_publish_no_human_tag(root: Path) -> None:
    registry = FakeRegistry()
    builder = FakeBuilder(registry)
    report = api.build(options_of(root, platforms=("linux/amd64",)), builder, BuildSettings(), registry)
    assert report.status == "succeeded"
    assert {request.platforms for request in builder.requests.values()} == {("linux/amd64",)}
    assert report.promoted == []
    assert registry.tags({human_ref("base")}) == {}
