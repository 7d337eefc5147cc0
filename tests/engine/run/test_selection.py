"""Selections and narrowed platforms through api.build with the fakes: only what a selection needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.run import api
from engine.run.runner import BuildSettings
from graph.errors import StackError
from tests.engine.engine_fakes import STACK, FakeBuilder, FakeRegistry, human_ref, write_stack


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_stack(tmp_path / "repo")
    return tmp_path / "repo"


def _options(root: Path, **kwargs: object) -> api.Options:
    return api.Options(root=root, targets=STACK, state_dir=root.parent / "state", **kwargs)  # type: ignore[arg-type]


def test_building_one_leaf_builds_only_what_it_needs(root: Path) -> None:
    registry = FakeRegistry()
    builder = FakeBuilder(registry)
    report = api.build(_options(root, select=("leaf",)), builder, BuildSettings(), registry)
    assert report.status == "succeeded"
    assert builder.order == ["base", "mid", "leaf"]
    assert sorted(report.nodes) == ["base", "leaf", "mid"]
    assert report.promoted == [human_ref("base"), human_ref("mid"), human_ref("leaf")]


def test_a_glob_selects_by_name(root: Path) -> None:
    plan = api.plan(_options(root, select=("s*", "oth?r")))
    assert [entry.node for entry in plan] == ["base", "other", "side"]


def test_an_unknown_name_is_a_clear_error(root: Path) -> None:
    with pytest.raises(StackError, match="no node name or tag matches 'nothing'"):
        api.plan(_options(root, select=("nothing",)))


def test_narrowed_platforms_build_those_only_and_publish_no_human_tag(root: Path) -> None:
    registry = FakeRegistry()
    builder = FakeBuilder(registry)
    report = api.build(_options(root, platforms=("linux/amd64",)), builder, BuildSettings(), registry)
    assert report.status == "succeeded"
    assert {request.platforms for request in builder.requests.values()} == {("linux/amd64",)}
    assert report.promoted == []
    assert registry.tags({human_ref("base")}) == {}
