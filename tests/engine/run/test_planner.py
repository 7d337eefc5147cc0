"""planner: what the registry and history say per node (observe), the decision (decide), PR mode."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from engine.run import api
from engine.run.planner import (
    Planned,
    content_ref,
    observe,
    plan_build,
)
from engine.run.prchanges import pr_changes
from engine.state.gitinfo import GitError
from engine.state.history import NodeRecord
from graph.change.affected import affected
from graph.change.fingerprint import Fingerprint, fingerprint_graph
from graph.context.files import ContextFile
from graph.expand.dag import StackGraph
from graph.plan.changes import Observed, build_reason, decide, file_inputs
from graph.plan.entries import BUILD, EXTERNAL, RETAG, SKIP
from tests.engine.base_fakes import ALPINE, ALPINE_DIGEST, MOVED_DIGEST, WithBases
from tests.engine.engine_fakes import (
    NODES,
    REGISTRY,
    STACK,
    FakeRegistry,
    commit_all,
    fork,
    git,
    human_ref,
    sha,
    write_stack,
)

BUILT = ("base", "other", "mid", "side", "leaf", "onext")  # every node but the external one


class FakeHistory:
    """digest_for and last_success from dicts; every call recorded."""

    def __init__(self, digests: dict[tuple[str, str], str] | None = None,
                 previous: dict[str, dict[str, str]] | None = None) -> None:
        self.digests, self.previous = digests or {}, previous or {}
        self.calls: list[tuple[str, str]] = []

    def digest_for(self, node: str, fingerprint: str) -> str:
        self.calls.append(("digest_for", node))
        return self.digests.get((node, fingerprint), "")

    def last_success(self, node: str) -> NodeRecord | None:
        self.calls.append(("last_success", node))
        inputs = self.previous.get(node)
        if inputs is None:
            return None
        return NodeRecord("r0", node, "ref", "fp", "sha256:old", "build", "x", "succeeded", 1.0, {}, inputs,
                          "2026-01-01T00:00:00+00:00")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The tiny stack plus an external base (alpine) with a child built on it."""
    root = tmp_path / "repo"
    folder = write_stack(root)
    text = (folder / "stack.yaml").read_text(encoding="utf-8")
    (folder / "stack.yaml").write_text(
        text + f'  ext: {{kind: os, from: "{ALPINE}"}}\n  onext: {{kind: sdk, parent: ext, tag: "6"}}\n',
        encoding="utf-8")
    (folder / "onext").mkdir()
    (folder / "onext" / "Dockerfile").write_text("FROM parent\n", encoding="utf-8")
    return root


@pytest.fixture
def graph(root: Path) -> StackGraph:
    return api.load(api.Options(root=root, targets=STACK))


@pytest.fixture
def fingerprints(graph: StackGraph, root: Path) -> dict[str, Fingerprint]:
    return fingerprint_graph(graph, root, {ALPINE: ALPINE_DIGEST})



def publish(registry: FakeRegistry, graph: StackGraph, fingerprints: dict[str, Fingerprint],
            names: tuple[str, ...] = BUILT, tag: bool = True) -> dict[str, str]:
    """Push each node under its content tag (and its human tag); return the digests."""
    digests = {}
    for name in names:
        node = graph.nodes[name]
        digests[name] = registry.push(content_ref(node, fingerprints[name]), f"image of {name}")
        if tag:
            registry.push(node.ref, f"image of {name}")  # the same bytes: the same digest
    return digests


def test_content_ref_is_the_repository_with_the_fingerprint_tag(graph: StackGraph,
                                                                fingerprints: dict[str, Fingerprint]) -> None:
    assert content_ref(graph.nodes["mid"], fingerprints["mid"]) == (
        f"{REGISTRY}/mid:sb-{fingerprints['mid'].value}")
    assert len(fingerprints["mid"].value) == 64


# --- observe ------------------------------------------------------------------------------------


def test_observe_without_history_asks_two_heads_per_built_node(graph: StackGraph,
                                                                fingerprints: dict[str, Fingerprint]) -> None:
    registry = FakeRegistry()
    observed = observe(graph, fingerprints, registry, None, None)
    assert observed == dict.fromkeys(BUILT, Observed(None, None, None))
    assert list(observed) == [name for name in graph.order if name != "ext"]
    assert dict(registry.requests) == {"HEAD": 2 * len(BUILT)}  # the external base is never asked


def test_observe_without_history_finds_published_images_with_two_heads(
        graph: StackGraph, fingerprints: dict[str, Fingerprint]) -> None:
    registry = FakeRegistry()
    digests = publish(registry, graph, fingerprints)
    observed = observe(graph, fingerprints, registry, None, None)
    assert observed == {name: Observed(digests[name], digests[name], None) for name in BUILT}
    assert dict(registry.requests) == {"HEAD": 2 * len(BUILT)}


def test_observe_with_history_vouching_for_the_tag_asks_one_head_per_node(
        graph: StackGraph, fingerprints: dict[str, Fingerprint]) -> None:
    registry = FakeRegistry()
    digests = publish(registry, graph, fingerprints)
    history = FakeHistory({(name, fingerprints[name].value): digests[name] for name in BUILT})
    observed = observe(graph, fingerprints, registry, history, None)  # type: ignore[arg-type]
    assert observed == {name: Observed(digests[name], digests[name], None) for name in BUILT}
    assert dict(registry.requests) == {"HEAD": len(BUILT)}
    assert sorted(history.calls) == sorted(("digest_for", name) for name in BUILT)  # no last_success


def test_observe_vouches_only_when_the_tag_has_the_recorded_digest(
        graph: StackGraph, fingerprints: dict[str, Fingerprint]) -> None:
    registry = FakeRegistry()
    digests = publish(registry, graph, fingerprints)
    elsewhere = registry.push(graph.nodes["mid"].ref, "another mid")  # the tag moved elsewhere
    del registry.refs[graph.nodes["side"].ref]  # the tag was deleted
    history = FakeHistory({(name, fingerprints[name].value): digests[name] for name in BUILT})
    observed = observe(graph, fingerprints, registry, history, None)  # type: ignore[arg-type]
    assert observed["mid"] == Observed(digests["mid"], elsewhere, None)
    assert observed["side"] == Observed(digests["side"], None, None)
    assert observed["leaf"] == Observed(digests["leaf"], digests["leaf"], None)
    assert dict(registry.requests) == {"HEAD": len(BUILT) + 2}  # mid and side: one more HEAD each


def test_observe_history_for_another_fingerprint_does_not_vouch(
        graph: StackGraph, fingerprints: dict[str, Fingerprint]) -> None:
    registry = FakeRegistry()
    digests = publish(registry, graph, fingerprints)
    history = FakeHistory({(name, "0" * 64): digests[name] for name in BUILT})
    observe(graph, fingerprints, registry, history, None)  # type: ignore[arg-type]
    assert dict(registry.requests) == {"HEAD": 2 * len(BUILT)}


def test_observe_reads_previous_inputs_only_when_the_content_tag_is_missing(
        graph: StackGraph, fingerprints: dict[str, Fingerprint]) -> None:
    registry = FakeRegistry()
    digests = publish(registry, graph, fingerprints, names=("base", "other", "side", "leaf", "onext"))
    old_mid = registry.push(graph.nodes["mid"].ref, "old mid")  # the human tag holds an older build
    history = FakeHistory(previous={"mid": {"args": "old"}, "base": {"args": "never read"}})
    observed = observe(graph, fingerprints, registry, history, None)  # type: ignore[arg-type]
    assert observed["mid"] == Observed(None, old_mid, {"args": "old"})
    assert observed["base"] == Observed(digests["base"], digests["base"], None)
    assert [call for call in history.calls if call[0] == "last_success"] == [("last_success", "mid")]


def test_observe_only_the_candidates(graph: StackGraph, fingerprints: dict[str, Fingerprint]) -> None:
    registry = FakeRegistry()
    observed = observe(graph, fingerprints, registry, None, {"mid", "leaf", "ext"})
    assert list(observed) == ["mid", "leaf"]
    assert dict(registry.requests) == {"HEAD": 4}


def test_observe_asks_for_the_right_references(graph: StackGraph,
                                               fingerprints: dict[str, Fingerprint]) -> None:
    asked: list[str] = []

    class Spy(FakeRegistry):
        def digest(self, reference: str) -> str | None:
            asked.append(reference)
            return super().digest(reference)

    observe(graph, fingerprints, Spy(), None, {"mid"})
    assert asked == [human_ref("mid"), f"{REGISTRY}/mid:sb-{fingerprints['mid'].value}"]


# --- decide -------------------------------------------------------------------------------------


def test_decide_every_outcome(graph: StackGraph, fingerprints: dict[str, Fingerprint]) -> None:
    a, b = sha("a"), sha("b")
    observed = {
        "base": Observed(a, a),  # image and tag agree
        "other": Observed(a, None),  # image, no tag
        "mid": Observed(a, b),  # image, tag on another image
        "side": Observed(None, b, None),  # no image, never built
        "leaf": Observed(None, None, file_inputs(fingerprints["leaf"])),  # no image, same inputs
        "onext": Observed("", "", None),  # empty digests count as absent
    }
    entries = decide(graph, fingerprints, observed)
    assert [(e.node, e.action, e.reason, e.digest) for e in entries] == [
        ("base", SKIP, "up_to_date", a),
        ("ext", EXTERNAL, "base image", ALPINE_DIGEST),
        ("other", RETAG, "tag_missing", a),
        ("mid", RETAG, "tag_elsewhere", a),
        ("onext", BUILD, "not_in_registry", ""),
        ("side", BUILD, "not_in_registry", ""),
        ("leaf", BUILD, "not_in_registry", ""),
    ]
    for entry in entries:
        node = graph.nodes[entry.node]
        assert (entry.stack, entry.kind, entry.ref, entry.parent, entry.platforms, entry.fingerprint) == (
            "t", node.kind, node.ref, node.parent, node.platforms, fingerprints[entry.node].value)


def test_decide_full_builds_everything_but_external_bases(graph: StackGraph,
                                                          fingerprints: dict[str, Fingerprint]) -> None:
    a = sha("a")
    entries = decide(graph, fingerprints, dict.fromkeys(graph.order, Observed(a, a)), full=True)
    assert {e.node: (e.action, e.reason, e.digest) for e in entries} == {
        **dict.fromkeys(BUILT, (BUILD, "forced", "")), "ext": (EXTERNAL, "base image", ALPINE_DIGEST)}


def test_decide_outside_the_candidates_is_unchanged_since_ref(graph: StackGraph,
                                                              fingerprints: dict[str, Fingerprint]) -> None:
    entries = decide(graph, fingerprints, {}, candidates={"mid", "leaf"})
    assert {e.node: (e.action, e.reason) for e in entries} == {
        "base": (SKIP, "unchanged_since_ref"), "other": (SKIP, "unchanged_since_ref"),
        "side": (SKIP, "unchanged_since_ref"), "onext": (SKIP, "unchanged_since_ref"),
        "ext": (EXTERNAL, "base image"),
        "mid": (BUILD, "not_in_registry"), "leaf": (BUILD, "not_in_registry")}


def test_decide_missing_observation_is_a_build(graph: StackGraph,
                                               fingerprints: dict[str, Fingerprint]) -> None:
    entries = decide(graph, fingerprints, {})
    assert {e.node: e.action for e in entries} == {**dict.fromkeys(BUILT, BUILD), "ext": EXTERNAL}


# --- build_reason -------------------------------------------------------------------------------


def fingerprint(**inputs: str) -> Fingerprint:
    """A fingerprint of named inputs plus context files (keys that look like file names)."""
    files = tuple(ContextFile(path, digest, 0o644) for path, digest in sorted(inputs.items())
                  if path.startswith(("Dockerfile", "f", "app")))
    named = {k: v for k, v in inputs.items()
             if k in ("dockerfile", "context", "args", "spec", "parent", "secrets")}
    return Fingerprint("n", "v", named, files)


BASE_INPUTS = {"dockerfile": "d1", "context": "c1", "args": "a1", "spec": "s1", "parent": "p1",
               "Dockerfile": "sha256:df", "app.py": "sha256:app"}


@pytest.mark.parametrize(("changes", "parent", "reason"), [
    ({}, "p", "not_in_registry"),
    ({"dockerfile": "d2", "Dockerfile": "sha256:df2", "context": "c2", "args": "a2"}, "p",
     "dockerfile_changed"),
    ({"context": "c2", "app.py": "sha256:app2", "args": "a2"}, "p", "context_changed: app.py"),
    ({"context": "c2", "f1": "x", "f2": "x", "f3": "x"}, "p", "context_changed: f1, f2, f3"),
    ({"context": "c2", "f1": "x", "f2": "x", "f3": "x", "f4": "x"}, "p", "context_changed: f1, f2, f3 …"),
    ({"args": "a2", "spec": "s2", "parent": "p2"}, "p", "args_changed"),
    ({"spec": "s2", "parent": "p2"}, "p", "spec_changed"),
    ({"secrets": "withheld", "parent": "p2"}, "p", "secrets_withheld"),
    ({"parent": "p2"}, "mid", "parent_rebuilt: mid"),
    ({"parent": "p2"}, None, "base_changed"),
])
def test_build_reason_names_the_first_changed_input(changes: dict[str, str], parent: str | None,
                                                    reason: str) -> None:
    old = file_inputs(fingerprint(**BASE_INPUTS))
    new = fingerprint(**{**BASE_INPUTS, **changes})
    assert build_reason(new, old, parent) == reason


def test_build_reason_after_a_build_without_the_secrets_is_secrets_passed() -> None:
    old = file_inputs(fingerprint(**BASE_INPUTS, secrets="withheld"))
    assert build_reason(fingerprint(**BASE_INPUTS), old, "mid") == "secrets_passed"


def test_build_reason_without_a_previous_build_is_not_in_registry() -> None:
    assert build_reason(fingerprint(**BASE_INPUTS), None, "mid") == "not_in_registry"


def test_build_reason_counts_a_deleted_file() -> None:
    old = file_inputs(fingerprint(**BASE_INPUTS))
    new = fingerprint(**{**{k: v for k, v in BASE_INPUTS.items() if k != "app.py"}, "context": "c2"})
    assert build_reason(new, old, None) == "context_changed: app.py"


def test_file_inputs_has_one_entry_per_context_file(fingerprints: dict[str, Fingerprint]) -> None:
    inputs = file_inputs(fingerprints["mid"])
    assert set(inputs) == {"spec", "args", "parent", "dockerfile", "context", "file:Dockerfile"}
    assert inputs["file:Dockerfile"] == "644:" + fingerprints["mid"].files[0].digest
    assert inputs["parent"] == fingerprints["base"].value


# --- plan_build ---------------------------------------------------------------------------------


def test_plan_build_full_asks_only_for_the_base(graph: StackGraph, root: Path) -> None:
    registry = WithBases()
    planned = plan_build(graph, root, registry, None, full=True)
    assert {e.action for e in planned.entries} == {BUILD, EXTERNAL}
    assert dict(registry.requests) == {"HEAD": 1}
    assert planned.touched == {}
    assert sorted(planned.fingerprints) == sorted(graph.order)  # every node fingerprinted all the same
    assert [e.fingerprint for e in planned.entries] == [planned.fingerprints[e.node].value
                                                        for e in planned.entries]
    assert all(re.fullmatch("[0-9a-f]{64}", fp.value) for fp in planned.fingerprints.values())


def test_plan_build_offline_asks_nothing_and_builds_every_node(graph: StackGraph, root: Path) -> None:
    planned = plan_build(graph, root, None, None)
    assert {e.node: (e.action, e.reason, e.digest) for e in planned.entries} == {
        **dict.fromkeys(BUILT, (BUILD, "not_checked", "")), "ext": (EXTERNAL, "base_not_checked", "")}
    assert [e.fingerprint for e in planned.entries] == [planned.fingerprints[n].value for n in graph.order]


def test_decide_without_observations_is_not_checked(graph: StackGraph,
                                                    fingerprints: dict[str, Fingerprint]) -> None:
    assert {e.node: (e.action, e.reason) for e in decide(graph, fingerprints, None)} == {
        **dict.fromkeys(BUILT, (BUILD, "not_checked")), "ext": (EXTERNAL, "base_not_checked")}
    assert {e.node: (e.action, e.reason) for e in decide(graph, fingerprints, None, full=True)} == {
        **dict.fromkeys(BUILT, (BUILD, "forced")), "ext": (EXTERNAL, "base_not_checked")}
    assert {e.node: e.action for e in decide(graph, fingerprints, None, candidates={"leaf"})} == {
        **dict.fromkeys(BUILT, SKIP), "leaf": BUILD, "ext": EXTERNAL}


def test_planned_entry_finds_one_node(graph: StackGraph, root: Path) -> None:
    planned = plan_build(graph, root, FakeRegistry(), None)
    assert isinstance(planned, Planned)
    assert planned.entry("leaf").parent == "mid"
    assert planned.entry("leaf") is planned.entries[-1]
    with pytest.raises(StopIteration):
        planned.entry("nope")


# --- PR mode (a real temporary git repository) --------------------------------------------------


def pr_plan(root: Path, ref: str = "HEAD",
            registry: WithBases | None = None) -> dict[str, tuple[str, str]]:
    """The PR plan against a registry where main built every node outside the change (by default)."""
    graph = api.load(api.Options(root=root, targets=STACK))
    planned = plan_build(graph, root, registry or built_outside_change(root, ref), None, changed_since=ref,
                         targets=STACK)
    return {entry.node: (entry.action, entry.reason) for entry in planned.entries}


def built_outside_change(root: Path, ref: str = "HEAD") -> WithBases:
    """A registry holding the content tag of each node the change since ref does not affect."""
    graph = api.load(api.Options(root=root, targets=STACK))
    offline = plan_build(graph, root, WithBases(), None)
    hit = affected(graph, pr_changes(graph, root, ref, STACK))
    registry = WithBases()
    for name, node in graph.nodes.items():
        if name not in hit and not node.external:
            registry.push(content_ref(node, offline.fingerprints[name]), f"{name} as main built it")
    return registry


UNCHANGED = (SKIP, "unchanged_since_ref")


def test_pr_mode_a_changed_dockerfile(root: Path) -> None:
    commit_all(root, "one")
    (root / "stacks/t/mid/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    registry = built_outside_change(root)
    registry.requests.clear()
    assert pr_plan(root, registry=registry) == {
        "base": UNCHANGED, "other": UNCHANGED, "side": UNCHANGED, "onext": UNCHANGED,
        "ext": (EXTERNAL, "base image"),
        "mid": (BUILD, "dockerfile_changed"), "leaf": (BUILD, "parent_rebuilt: mid")}
    # the candidates are looked up (tag and content), mid's parent by its content tag, and the base
    assert dict(registry.requests) == {"HEAD": 6}


def test_pr_mode_a_committed_change_since_an_older_ref(root: Path) -> None:
    commit_all(root, "one")
    (root / "stacks/t/side/extra.txt").write_text("x\n", encoding="utf-8")
    commit_all(root, "two")
    assert pr_plan(root, "HEAD~1")["side"] == (BUILD, "context_changed: extra.txt")
    assert pr_plan(root, "HEAD")["side"] == UNCHANGED


def test_pr_mode_a_changed_definition_and_a_new_node(root: Path) -> None:
    commit_all(root, "one")
    write_stack(root, arg="2")
    folder = root / "stacks" / "t"
    text = (folder / "stack.yaml").read_text(encoding="utf-8")
    (folder / "stack.yaml").write_text(
        text + f'  ext: {{kind: os, from: "{ALPINE}"}}\n  onext: {{kind: sdk, parent: ext, tag: "6"}}\n'
        '  extra: {kind: tool, parent: other, dockerfile: side/Dockerfile, tag: "7"}\n'
        '  fresh: {kind: tool, parent: base, tag: "8"}\n', encoding="utf-8")
    (folder / "fresh").mkdir()
    (folder / "fresh" / "Dockerfile").write_text("FROM parent\n", encoding="utf-8")  # a new, untracked file
    plan = pr_plan(root)
    assert plan["mid"] == (BUILD, "definition_changed")
    assert plan["leaf"] == (BUILD, "parent_rebuilt: mid")
    assert plan["extra"] == (BUILD, "new_node")
    assert plan["fresh"] == (BUILD, "new_node")  # new comes first, before its (new) Dockerfile
    assert plan["other"] == UNCHANGED
    assert plan["side"] == UNCHANGED


def test_pr_mode_an_already_built_candidate_is_not_rebuilt(root: Path) -> None:
    commit_all(root, "one")
    (root / "stacks/t/leaf/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    graph = api.load(api.Options(root=root, targets=STACK))
    registry = WithBases()
    publish(registry, graph, fingerprint_graph(graph, root), names=("leaf",))
    assert pr_plan(root, registry=registry)["leaf"] == (SKIP, "up_to_date")


def test_pr_changes_names_the_touched_nodes_only(root: Path) -> None:
    commit_all(root, "one")
    (root / "stacks/t/base/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    graph = api.load(api.Options(root=root, targets=STACK))
    assert pr_changes(graph, root, "HEAD", STACK) == {"base": "dockerfile_changed"}


def test_pr_mode_a_file_outside_every_context_touches_nothing(root: Path) -> None:
    commit_all(root, "one")
    (root / "README.md").write_text("docs\n", encoding="utf-8")
    assert set(pr_plan(root).values()) == {UNCHANGED, (EXTERNAL, "base image")}


def test_pr_mode_with_a_dockerfile_outside_the_stacks_folder(root: Path) -> None:
    (root / "images" / "out").mkdir(parents=True)
    (root / "images" / "out" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (root / "images" / "out" / "app.txt").write_text("v1\n", encoding="utf-8")
    with (root / "stacks/t/stack.yaml").open("a", encoding="utf-8") as stack:
        stack.write('  out: {kind: tool, tag: "9", dockerfile: ../../images/out/Dockerfile}\n')
    commit_all(root, "one")
    (root / "stacks/t/mid/Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    graph = api.load(api.Options(root=root, targets=STACK))
    assert pr_changes(graph, root, "HEAD", STACK) == {"mid": "dockerfile_changed"}  # not every node new
    (root / "images" / "out" / "app.txt").write_text("v2\n", encoding="utf-8")
    assert pr_changes(graph, root, "HEAD", STACK) == {"mid": "dockerfile_changed",
                                                      "out": "context_changed: app.txt"}


def test_pr_mode_a_context_file_whose_name_is_not_utf8(root: Path) -> None:
    commit_all(root, "one")
    name = os.fsdecode(b"caf\xe9.txt")
    (root / "stacks/t/side" / name).write_text("x\n", encoding="utf-8")
    graph = api.load(api.Options(root=root, targets=STACK))
    assert pr_changes(graph, root, "HEAD", STACK) == {"side": f"context_changed: {name}"}


def test_pr_mode_a_bad_ref_is_a_git_error(root: Path) -> None:
    commit_all(root, "one")
    with pytest.raises(GitError) as caught:
        pr_plan(root, "no-such-branch")
    assert caught.value.exit_code == 2


def test_pr_mode_counts_what_the_branch_changed_since_it_forked_from_ref(root: Path) -> None:
    stack = (root / "stacks/t/stack.yaml").read_text(encoding="utf-8")
    fork(root, upstream={"stacks/t/side/Dockerfile": "FROM scratch\n# main moved on\n",  # after the fork
                         "stacks/t/stack.yaml": stack.replace('tag: "5"', 'tag: "55"')},  # other
         branch={"stacks/t/mid/Dockerfile": "FROM scratch\n# the pr\n"})
    graph = api.load(api.Options(root=root, targets=STACK))
    assert pr_changes(graph, root, "main", STACK) == {"mid": "dockerfile_changed"}  # not side nor other
    plan = pr_plan(root, "main")
    assert (plan["mid"], plan["leaf"]) == ((BUILD, "dockerfile_changed"), (BUILD, "parent_rebuilt: mid"))
    assert plan["side"] == plan["other"] == plan["base"] == UNCHANGED
    (root / "stacks/t/side/extra.txt").write_text("x\n", encoding="utf-8")  # work not committed counts too
    assert pr_changes(graph, root, "main", STACK) == {"mid": "dockerfile_changed",
                                                      "side": "context_changed: extra.txt"}


def test_pr_mode_against_a_ref_with_no_common_history_is_a_git_error(root: Path) -> None:
    commit_all(root, "one")
    git(root, "switch", "-q", "--orphan", "lone")
    (root / "lone.txt").write_text("unrelated\n", encoding="utf-8")
    git(root, "add", "lone.txt")
    git(root, "commit", "-q", "-m", "unrelated history")
    git(root, "switch", "-q", "main")
    with pytest.raises(GitError) as caught:
        pr_plan(root, "lone")
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"'lone' shares no history with HEAD in {root} (no merge base) (")
    assert "fetch-depth: 0" in str(caught.value)


def test_pr_mode_stacks_added_since_ref_are_all_new(root: Path) -> None:
    (root / "README.md").write_text("docs\n", encoding="utf-8")
    git(root, "init", "-q", "--template=")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "before the stacks")
    plan = pr_plan(root)
    assert {name: reason for name, (_, reason) in plan.items()} == {
        **dict.fromkeys(BUILT, "new_node"), "ext": "base image"}


def test_pr_mode_stacks_that_do_not_load_at_ref_count_as_new(root: Path) -> None:
    (root / "stacks/t/stack.yaml").write_text("stack: t\nnodes: {}\n", encoding="utf-8")
    commit_all(root, "broken")
    write_stack(root)
    folder = root / "stacks" / "t"
    text = (folder / "stack.yaml").read_text(encoding="utf-8")
    (folder / "stack.yaml").write_text(
        text + f'  ext: {{kind: os, from: "{ALPINE}"}}\n  onext: {{kind: sdk, parent: ext, tag: "6"}}\n',
        encoding="utf-8")
    plan = pr_plan(root)
    assert {name: reason for name, (_, reason) in plan.items()} == {
        **dict.fromkeys(BUILT, "new_node"), "ext": "base image"}


def test_replace_keeps_entries_frozen(graph: StackGraph, fingerprints: dict[str, Fingerprint]) -> None:
    entry = decide(graph, fingerprints, {})[0]
    with pytest.raises(AttributeError):
        entry.reason = "x"  # type: ignore[misc]
    assert replace(entry, reason="x").reason == "x"


def test_nodes_constant_matches_the_stack(graph: StackGraph) -> None:
    assert set(graph.order) == {*NODES, "ext", "onext"}


# --- external bases -----------------------------------------------------------------------------


def recorded(fingerprints: dict[str, Fingerprint], *names: str) -> FakeHistory:
    """History whose last successful run used these fingerprints for names."""
    return FakeHistory({(name, fingerprints[name].value): sha(f"image of {name}") for name in BUILT},
                       {name: file_inputs(fingerprints[name]) for name in names})


def test_a_base_moved_under_its_tag_rebuilds_exactly_its_subtree(graph: StackGraph, root: Path) -> None:
    before = fingerprint_graph(graph, root, {ALPINE: ALPINE_DIGEST})
    registry = WithBases({ALPINE: MOVED_DIGEST})
    publish(registry, graph, before)
    planned = plan_build(graph, root, registry, recorded(before, "ext", "onext"))  # type: ignore[arg-type]
    moved = f"base_updated: {ALPINE} {ALPINE_DIGEST} → {MOVED_DIGEST}"
    assert {e.node: (e.action, e.reason) for e in planned.entries} == {
        **dict.fromkeys(("base", "other", "mid", "side", "leaf"), (SKIP, "up_to_date")),
        "ext": (EXTERNAL, moved), "onext": (BUILD, moved)}
    assert registry.asked == [ALPINE]  # resolved once
    assert planned.entry("ext").digest == MOVED_DIGEST
    assert planned.entry("onext").base == f"{ALPINE}@{MOVED_DIGEST}"
    assert planned.entry("mid").base == ""  # built on a node of ours: no external base
    assert planned.fingerprints["onext"].inputs["base"] == MOVED_DIGEST


def test_a_base_on_its_recorded_digest_changes_nothing(graph: StackGraph, root: Path) -> None:
    before = fingerprint_graph(graph, root, {ALPINE: ALPINE_DIGEST})
    registry = WithBases()
    publish(registry, graph, before)
    planned = plan_build(graph, root, registry, recorded(before, "ext"))  # type: ignore[arg-type]
    assert {e.node: (e.action, e.reason) for e in planned.entries} == {
        **dict.fromkeys(BUILT, (SKIP, "up_to_date")), "ext": (EXTERNAL, "base image")}


def test_offline_uses_the_recorded_digest_and_asks_no_registry(graph: StackGraph, root: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("offline planning asked a registry")

    monkeypatch.setattr("engine.run.planner.resolve_bases", no_network)
    monkeypatch.setattr("engine.registry.session.RegistrySession._send", no_network)
    before = fingerprint_graph(graph, root, {ALPINE: ALPINE_DIGEST})
    planned = plan_build(graph, root, None, recorded(before, "ext"))  # type: ignore[arg-type]
    assert planned.fingerprints == before  # the same fingerprints as the last (online) run
    assert (planned.entry("ext").reason, planned.entry("ext").digest) == ("base_not_checked", ALPINE_DIGEST)
    assert planned.entry("onext").reason == "not_checked"
    unrecorded = plan_build(graph, root, None, None)  # nothing recorded: the reference only
    assert unrecorded.fingerprints["onext"].inputs["base"] == ""
    assert unrecorded.fingerprints == fingerprint_graph(graph, root)


def test_an_unresolvable_base_is_planned_as_unresolved(graph: StackGraph, root: Path) -> None:
    planned = plan_build(graph, root, WithBases({}), None)
    assert (planned.entry("ext").action, planned.entry("ext").reason) == (EXTERNAL, "base_unresolved")
    assert (planned.entry("onext").action, planned.entry("onext").base) == (BUILD, "")
