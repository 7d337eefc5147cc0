"""bench.bakefile and workspace.subtree_file without Docker: what a PR change rebuilds, its bake file."""

from __future__ import annotations

import json
from pathlib import Path

from bench import bakefile, workspace

TARGETS = {
    "os": {"context": "stacks/s/os", "tags": ["r/os:1"]},
    "fw": {"context": "stacks/s/fw", "contexts": {"parent": "target:os"}, "tags": ["r/fw:1"]},
    "other": {"context": "stacks/s/other", "contexts": {"parent": "target:os"}, "tags": ["r/other:1"]},
    "app": {"context": "stacks/s/app", "contexts": {"parent": "target:fw"}, "tags": ["r/app:1"]},
    "dev": {"context": "stacks/s/dev", "dockerfile": "Dockerfile", "contexts": {"parent": "target:app"},
            "tags": ["r/dev:1"]},
}


def test_a_change_rebuilds_its_targets_and_everything_below_them_only() -> None:
    assert bakefile.rebuilt_targets(TARGETS, "stacks/s/fw/Dockerfile") == {"fw", "app", "dev"}
    assert bakefile.rebuilt_targets(TARGETS, "stacks/s/dev/Dockerfile") == {"dev"}
    assert bakefile.rebuilt_targets(TARGETS, "stacks/s/none/Dockerfile") == set()


def test_the_subtree_file_names_outside_parents_by_digest_and_keeps_inside_ones(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "docker-bake.json").write_text(json.dumps({"target": TARGETS}), encoding="utf-8")
    change = tmp_path / "stacks" / "s" / "fw" / "Dockerfile"
    ws = workspace.Workspace("s", tmp_path, "stacks/s", 5, change, "", (), "sb", "bake")
    digests = {name: f"sha256:{name}" for name in TARGETS}
    path, count = workspace.subtree_file(ws, digests)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert count == 3 and written["group"]["default"]["targets"] == ["app", "dev", "fw"]
    assert written["target"]["fw"]["contexts"] == {"parent": "docker-image://r/os@sha256:os"}
    assert written["target"]["app"]["contexts"] == {"parent": "target:fw"}
    assert written["target"]["dev"]["contexts"] == {"parent": "target:app"}


def test_bake_digests_reads_each_built_target_and_nothing_when_bake_wrote_no_file(tmp_path: Path) -> None:
    metadata = tmp_path / "meta.json"
    metadata.write_text(json.dumps({"fw": {"containerimage.digest": "sha256:f"}, "app": {"other": 1},
                                    "buildx.build.warnings": []}), encoding="utf-8")
    assert bakefile.bake_digests(metadata) == {"fw": "sha256:f"}
    assert bakefile.bake_digests(tmp_path / "none.json") == {}


def test_target_parents_are_the_target_contexts_only() -> None:
    target = {"contexts": {"parent": "target:fw", "tools": "docker-image://r/t@sha256:1",
                           "extra": "target:os"}}
    assert bakefile.target_parents(target) == {"fw", "os"}
    assert bakefile.target_parents({}) == set()
