"""graph.plan.diff: tags added, removed and rebuilt between two versions, why, and what building them
costs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import pytest

from graph.change.fingerprint import Fingerprint
from graph.context.files import ContextFile
from graph.expand.dag import graph_of
from graph.model.spec import Node
from graph.plan.diff import (
    ADDED,
    REBUILT,
    REMOVED,
    StackDiff,
    Version,
    compare,
    diff_json,
    diff_markdown,
    diff_table,
    duration,
    estimate_line,
)

REGISTRY = "r.example/x"


def node(name: str, parent: str | None = None, tag: str = "1", image: str = "", external: str = "",
         registry: str = REGISTRY) -> Node:
    return Node(name=name, stack="s", kind="sdk" if parent else "os", parent=parent,
                dockerfile="" if external else f"s/{name}/Dockerfile",
                context="" if external else f"s/{name}",
                registry="" if external else registry, image="" if external else image or name,
                tag="" if external else tag, platforms=("linux/amd64",), external=external)


def version(nodes: list[Node], changes: Mapping[str, Mapping[str, str]] | None = None,
            files: Mapping[str, Mapping[str, str]] | None = None) -> Version:
    """A version whose fingerprints hash each node's inputs (overridden by changes) and its parent's."""
    graph = graph_of(nodes)
    result: dict[str, Fingerprint] = {}
    for name in graph.order:
        current = graph.nodes[name]
        parent = result[current.parent].value if current.parent else current.external
        listed = (files or {}).get(name, {})
        context = tuple(ContextFile(path, digest, 0o644) for path, digest in listed.items())
        inputs = {"spec": "spec", "args": "args", "dockerfile": "df", "context": repr(context),
                  "parent": parent, **(changes or {}).get(name, {})}
        value = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
        result[name] = Fingerprint(name, value, inputs, context)
    return Version(graph, result)


def chain() -> list[Node]:
    """os → sdk → fw, sdk → tool, each its own image."""
    return [node("os"), node("sdk", "os"), node("fw", "sdk"), node("tool", "sdk")]


def by_ref(diff: StackDiff) -> dict[str, tuple[str, str, bool]]:
    return {c.ref: (c.change, c.reason, c.build) for c in diff.changes}


def ref(name: str, tag: str = "1") -> str:
    return f"{REGISTRY}/{name}:{tag}"


# --- classification -----------------------------------------------------------------------------


def test_identical_versions_differ_in_nothing() -> None:
    diff = compare(version(chain()), version(chain()))
    assert diff.changes == ()
    assert diff.unchanged == 4
    assert diff.estimate.builds == 0
    assert estimate_line(diff) == "estimate: nothing to build"


def test_a_dockerfile_change_rebuilds_the_node_and_every_descendant() -> None:
    diff = compare(version(chain()), version(chain(), {"sdk": {"dockerfile": "df2"}}))
    assert by_ref(diff) == {
        ref("sdk"): (REBUILT, "dockerfile_changed", True),
        ref("fw"): (REBUILT, "parent_rebuilt: sdk", True),
        ref("tool"): (REBUILT, "parent_rebuilt: sdk", True),
    }
    assert diff.unchanged == 1
    sdk = diff.of(REBUILT)[0]
    assert sdk.changed == ("dockerfile",)
    assert sdk.old_fingerprint != sdk.new_fingerprint


def test_a_context_file_change_names_the_file() -> None:
    old = version(chain(), files={"fw": {"app.py": "sha256:1", "README": "sha256:2"}})
    new = version(chain(), {"fw": {"context": "other"}},
                  files={"fw": {"app.py": "sha256:9", "README": "sha256:2"}})
    (change,) = compare(old, new).changes
    assert (change.ref, change.reason) == (ref("fw"), "context_changed: app.py")
    assert change.changed == ("context", "file:app.py")


@pytest.mark.parametrize(("inputs", "reason"), [({"args": "a2"}, "args_changed"),
                                               ({"spec": "s2"}, "spec_changed")])
def test_args_and_spec_changes_are_named(inputs: dict[str, str], reason: str) -> None:
    diff = compare(version(chain()), version(chain(), {"tool": inputs}))
    assert by_ref(diff) == {ref("tool"): (REBUILT, reason, True)}


def test_added_and_removed_nodes() -> None:
    old = version([*chain(), node("gone", "os")])
    new = version([*chain(), node("new", "fw")])
    diff = compare(old, new)
    assert by_ref(diff) == {ref("new"): (ADDED, "new_node", True),
                            ref("gone"): (REMOVED, "node_removed", False)}
    assert [c.change for c in diff.changes] == [ADDED, REMOVED]
    assert diff.unchanged == 4


def test_a_new_tag_on_unchanged_content_is_a_retag_without_build() -> None:
    new_nodes = [node("os"), node("sdk", "os", tag="2"), node("fw", "sdk"), node("tool", "sdk")]
    diff = compare(version(chain()), version(new_nodes))
    assert by_ref(diff) == {
        ref("sdk", "2"): (ADDED, f"retag (was {ref('sdk')})", False),
        ref("sdk"): (REMOVED, f"tag changed: now {ref('sdk', '2')}", False),
    }
    assert diff.estimate.builds == 0


def test_a_new_tag_on_changed_content_is_built_and_says_what_it_was() -> None:
    new_nodes = [node("os"), node("sdk", "os", tag="2"), node("fw", "sdk"), node("tool", "sdk")]
    diff = compare(version(chain()), version(new_nodes, {"sdk": {"args": "x"}}))
    added = diff.of(ADDED)[0]
    assert (added.reason, added.build) == (f"args_changed (was {ref('sdk')})", True)
    assert {c.ref for c in diff.of(REBUILT)} == {ref("fw"), ref("tool")}


def test_a_tag_moving_to_another_repository_needs_a_build() -> None:
    moved = [node("os", registry="other.example/y"), *chain()[1:]]
    diff = compare(version(chain()), version(moved))
    assert by_ref(diff)["other.example/y/os:1"] == (ADDED, "new_repository (was r.example/x/os:1)", True)
    assert by_ref(diff)[ref("os")][0] == REMOVED


def test_the_same_tag_on_another_node_compares_by_content() -> None:
    renamed = [node("base", image="os"), node("sdk", "base"), node("fw", "sdk"), node("tool", "sdk")]
    diff = compare(version(chain()), version(renamed))
    assert diff.changes == ()  # names are not content: the tag os:1 holds the same image


def test_external_bases_are_never_listed_but_their_change_rebuilds_children() -> None:
    old = version([node("base", external="debian:12"), node("app", "base")])
    new = version([node("base", external="debian:13"), node("app", "base")])
    diff = compare(old, new)
    assert by_ref(diff) == {ref("app"): (REBUILT, "parent_rebuilt: base", True)}


# --- estimate -----------------------------------------------------------------------------------


def test_estimate_uses_history_and_the_default_for_unknown_nodes() -> None:
    diff = compare(version(chain()), version(chain(), {"sdk": {"args": "x"}}),
                   durations={"sdk": 100.0, "fw": 30.0}, default_s=50.0)
    times = {c.node: (c.duration_s, c.duration_known) for c in diff.changes}
    assert times == {"sdk": (100.0, True), "fw": (30.0, True), "tool": (50.0, False)}
    est = diff.estimate
    assert (est.builds, est.total_s, est.critical_path_s) == (3, 180.0, 150.0)
    assert est.critical_path == ("sdk", "tool")
    assert est.unknown == ("tool",)
    assert "3 build(s), 3m00s one after another, critical path 2m30s (sdk → tool)" in estimate_line(diff)
    assert "1 without build history, counted as 50s each" in estimate_line(diff)


def test_the_critical_path_skips_nodes_that_need_no_build() -> None:
    new = version([*chain(), node("app", "fw")], {"fw": {"args": "x"}})
    diff = compare(version(chain()), new, durations={"fw": 10.0, "app": 5.0, "tool": 100.0})
    assert diff.estimate.critical_path == ("fw", "app")
    assert diff.estimate.critical_path_s == 15.0
    assert diff.estimate.total_s == 15.0


def test_retags_and_removals_cost_nothing() -> None:
    diff = compare(version([*chain(), node("gone")]), version(chain()))
    assert diff.changes[0].duration_s == 0.0
    assert diff.estimate.builds == 0


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59.4, "59s"), (60, "1m00s"), (185, "3m05s"),
                                               (3725, "1h02m")])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


# --- output ------------------------------------------------------------------------------------


def sample() -> tuple[Version, Version]:
    old = version([*chain(), node("gone", "os")])
    new = version([*chain(), node("new", "fw")], {"sdk": {"dockerfile": "df2"}})
    return old, new


def test_json_lists_each_change_and_the_estimate() -> None:
    diff = compare(*sample(), durations={"sdk": 20.0})
    document = json.loads(diff_json(diff, "v1", "v2", ("a" * 40, "b" * 40)))
    assert document["summary"] == {"added": 1, "removed": 1, "rebuilt": 3, "unchanged": 1}
    assert [item["ref"] for item in document["rebuilt"]] == [ref("sdk"), ref("fw"), ref("tool")]
    assert document["added"][0]["node"] == "new"
    assert document["removed"][0]["reason"] == "node_removed"
    assert document["estimate"]["builds"] == 4
    assert document["estimate"]["critical_path"] == ["sdk", "fw", "new"]
    assert (document["commit1"], document["ref2"]) == ("a" * 40, "v2")


def test_table_has_a_summary_a_row_per_change_and_the_estimate() -> None:
    text = diff_table(compare(*sample()), "v1", "v2", ("a" * 40, "b" * 40))
    lines = text.splitlines()
    assert lines[0] == "diff v1 (aaaaaaa) → v2 (bbbbbbb): 1 added, 1 removed, 3 rebuilt, 1 unchanged"
    assert lines[1].split() == ["CHANGE", "NODE", "BUILD", "REASON", "TAG"]
    assert lines[2].split() == ["rebuilt", "sdk", "1m00s*", "dockerfile_changed", ref("sdk")]
    assert lines[-2].split()[0] == "removed"
    assert lines[-1].startswith("estimate: 4 build(s)")


def test_markdown_is_a_table_with_escaped_cells() -> None:
    text = diff_markdown(compare(*sample()), "main", "feature|x")
    assert text.startswith("### Image changes main → feature\\|x")
    assert "| change | tag | node | reason | changed inputs | build |" in text
    assert f"| rebuilt | `{ref('sdk')}` | sdk | dockerfile_changed | dockerfile | 1m00s* |" in text
    assert f"| removed | `{ref('gone')}` | gone | node_removed | - | - |" in text
    assert "<details>" not in text


def test_markdown_folds_long_tables_and_says_when_nothing_changed() -> None:
    many = [node("os"), *(node(f"n{i}", "os") for i in range(30))]
    folded = diff_markdown(compare(version([node("os")]), version(many)), "a", "b")
    assert "<details><summary>30 changed tags</summary>" in folded
    assert folded.endswith("</details>")
    empty = diff_markdown(compare(version(chain()), version(chain())), "a", "b")
    assert empty.endswith("No published tag changes.")
