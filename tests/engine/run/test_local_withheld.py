"""`build --load --no-secrets` (an untrusted stack tried locally): its images keep their local content
tags; no human tag is set in the image store, where a later build FROM that tag would use it."""

from __future__ import annotations

from pathlib import Path

from engine.run.local import build_local
from engine.run.settings import BuildSettings
from engine.state.loaded import read_loaded
from graph.model.secrets import SecretPolicy
from tests.engine.engine_fakes import NODES, FakeBuilder, FakeRegistry, human_ref
from tests.engine.run.builds import options_of
from tests.engine.run.tagging import FakeStore


def test_a_withheld_load_sets_no_human_tag_and_records_nothing_loaded(root: Path) -> None:
    images = FakeRegistry()
    builder = FakeBuilder(images)
    report = build_local(options_of(root), builder, BuildSettings(secrets=SecretPolicy(withhold=True)),
                         FakeStore(images))
    assert report.status == "succeeded"
    assert set(builder.order) == set(NODES)
    assert [human_ref(name) for name in NODES if human_ref(name) in images.refs] == []  # old code: all 5
    assert report.promoted == []
    assert read_loaded(root.parent / "state") == {}
