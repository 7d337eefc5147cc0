"""graph.plan.changes: the action and reason decide gives each node, and build_reason's priorities."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from graph.change.fingerprint import Fingerprint
from graph.context.files import ContextFile
from graph.expand.dag import StackGraph, graph_of
from graph.model.spec import Node
from graph.plan.changes import Observed, build_reason, decide, file_inputs
from graph.plan.entries import BUILD, EXTERNAL, RETAG, SKIP, PlanEntry, make_plan

CONTENT = "sha256:" + "c" * 64
OTHER = "sha256:" + "d" * 64
BASE = "sha256:" + "0" * 64  # the digest debian:12 resolved to
NEW_BASE = "sha256:" + "9" * 64
PINNED = f"debian:12@{BASE}"
PLATFORMS = ("linux/amd64", "linux/arm64")


def node(name: str, parent: str | None = None, external: str = "") -> Node:
    return Node(name=name, stack="s", kind="os", parent=parent,
                dockerfile="" if external else f"s/{name}/Dockerfile",
                context="" if external else f"s/{name}", registry="" if external else "r.example/x",
                image="" if external else name, tag="" if external else "1", platforms=PLATFORMS,
                external=external)


def small_graph() -> StackGraph:
    """base (external) → app → child."""
    return graph_of([node("base", external="debian:12"), node("app", "base"), node("child", "app")])


def files(**paths: str) -> tuple[ContextFile, ...]:
    return tuple(ContextFile(path.replace("_", "."), digest, 0o644) for path, digest in paths.items())


def fingerprint(name: str, value: str = "", files_: tuple[ContextFile, ...] = (),
                **inputs: str) -> Fingerprint:
    base = {"spec": "sha256:spec", "args": "sha256:args", "parent": "p1", "dockerfile": "sha256:df",
            "context": "sha256:ctx"}
    return Fingerprint(name, value or name[0] * 64, {**base, **inputs}, files_)


def fingerprints() -> dict[str, Fingerprint]:
    return {"base": Fingerprint("base", "b" * 64, {"spec": "x", "args": "y", "parent": "debian:12",
                                                   "base": BASE}),
            "app": fingerprint("app", "a" * 64, base=BASE), "child": fingerprint("child", "e" * 64)}


def decided(observed: Mapping[str, Observed], full: bool = False,
            candidates: set[str] | None = None) -> dict[str, tuple[str, str, str]]:
    plan = decide(small_graph(), fingerprints(), observed, full, candidates)
    return {entry.node: (entry.action, entry.reason, entry.digest) for entry in plan}


# --- decide -------------------------------------------------------------------------------------


def test_entries_follow_the_build_order_with_every_field() -> None:
    plan = decide(small_graph(), fingerprints(), {"app": Observed(CONTENT, CONTENT)})
    assert plan == (
        PlanEntry("base", "s", "os", "debian:12", None, PLATFORMS, EXTERNAL, "base image", "b" * 64, BASE,
                  PINNED),
        PlanEntry("app", "s", "os", "r.example/x/app:1", "base", PLATFORMS, SKIP, "up_to_date", "a" * 64,
                  CONTENT, PINNED),
        PlanEntry("child", "s", "os", "r.example/x/child:1", "app", PLATFORMS, BUILD, "not_in_registry",
                  "e" * 64, "", PINNED),
    )


def test_external_nodes_are_external_even_when_forced() -> None:
    assert decided({}, full=True)["base"] == (EXTERNAL, "base image", BASE)
    assert decided({}, candidates=set())["base"] == (EXTERNAL, "base image", BASE)
    assert decided({"base": Observed(CONTENT, CONTENT)})["base"] == (EXTERNAL, "base image", BASE)


# --- external bases: their digest is an input -----------------------------------------------------


def moved_base() -> dict[str, Observed]:
    """What history says after a run on the old base digest: the base and app recorded OLD."""
    base_before = {**fingerprints()["base"].inputs, "base": OTHER}
    app_before = {**file_inputs(fingerprints()["app"]), "base": OTHER, "parent": "b-old"}
    child_before = {**file_inputs(fingerprints()["child"]), "parent": "a-old"}
    return {"base": Observed(previous_inputs=base_before), "app": Observed(None, CONTENT, app_before),
            "child": Observed(None, CONTENT, child_before)}


def test_a_base_moved_under_its_tag_rebuilds_its_subtree_naming_old_and_new_digests() -> None:
    moved = f"base_updated: debian:12 {OTHER} → {BASE}"
    assert decided(moved_base()) == {
        "base": (EXTERNAL, moved, BASE),
        "app": (BUILD, moved, ""),
        "child": (BUILD, "parent_rebuilt: app", ""),
    }


def test_a_base_on_its_recorded_digest_is_just_a_base_image() -> None:
    base_before = fingerprints()["base"].inputs
    assert decided({"base": Observed(previous_inputs=base_before)})["base"] == (EXTERNAL, "base image", BASE)


def test_a_base_resolved_for_the_first_time_names_its_old_digest_unrecorded() -> None:
    before = {key: value for key, value in file_inputs(fingerprints()["app"]).items() if key != "base"}
    assert decided({"app": Observed(None, None, before)})["app"] == (
        BUILD, f"base_updated: debian:12 unrecorded → {BASE}", "")


def test_an_offline_or_unresolved_base_is_marked_so() -> None:
    unresolved_base = Fingerprint("base", "b" * 64, {"parent": "debian:12", "base": ""})
    unresolved = {**fingerprints(), "base": unresolved_base}
    entries = decide(small_graph(), unresolved, {})
    assert (entries[0].reason, entries[0].digest, entries[0].base) == ("base_unresolved", "", "")
    assert entries[1].base == ""
    offline = decide(small_graph(), fingerprints(), None)
    assert (offline[0].reason, offline[0].digest, offline[0].base) == ("base_not_checked", BASE, PINNED)


def test_a_plan_made_without_any_registry_says_the_base_was_not_checked() -> None:
    plan = make_plan(small_graph(), reason="not_checked")
    assert [(e.node, e.action, e.reason, e.digest) for e in plan] == [
        ("base", EXTERNAL, "base_not_checked", ""), ("app", BUILD, "not_checked", ""),
        ("child", BUILD, "not_checked", "")]


def test_build_reason_names_the_base_only_for_a_node_built_directly_on_it() -> None:
    app = fingerprints()["app"]
    previous = {**file_inputs(app), "base": OTHER}
    assert build_reason(app, previous, "base", "debian:12") == f"base_updated: debian:12 {OTHER} → {BASE}"
    assert build_reason(app, {**previous, "args": "old"}, "base", "debian:12") == "args_changed"


def test_full_builds_everything_even_up_to_date_nodes() -> None:
    result = decided({"app": Observed(CONTENT, CONTENT)}, full=True, candidates=set())
    assert result["app"] == (BUILD, "forced", "")
    assert result["child"] == (BUILD, "forced", "")


def test_nodes_outside_the_candidates_are_skipped_as_unchanged() -> None:
    result = decided({}, candidates={"child"})
    assert result["app"] == (SKIP, "unchanged_since_ref", "")
    assert result["child"] == (BUILD, "not_in_registry", "")


def test_candidates_still_use_what_the_registry_says() -> None:
    result = decided({"child": Observed(CONTENT, CONTENT)}, candidates={"app", "child"})
    assert result["child"] == (SKIP, "up_to_date", CONTENT)
    assert result["app"] == (BUILD, "not_in_registry", "")


def test_content_and_tag_on_the_same_digest_is_up_to_date() -> None:
    assert decided({"app": Observed(CONTENT, CONTENT)})["app"] == (SKIP, "up_to_date", CONTENT)


def test_content_without_the_tag_is_retagged() -> None:
    assert decided({"app": Observed(CONTENT, None)})["app"] == (RETAG, "tag_missing", CONTENT)


def test_content_with_the_tag_elsewhere_is_retagged() -> None:
    assert decided({"app": Observed(CONTENT, OTHER)})["app"] == (RETAG, "tag_elsewhere", CONTENT)


def test_content_present_wins_over_history() -> None:
    seen = Observed(CONTENT, None, {"dockerfile": "old"})
    assert decided({"app": seen})["app"] == (RETAG, "tag_missing", CONTENT)


def test_no_content_builds_whatever_the_tag_says() -> None:
    assert decided({"app": Observed(None, OTHER)})["app"] == (BUILD, "not_in_registry", "")
    assert decided({"app": Observed(None, None)})["app"] == (BUILD, "not_in_registry", "")


def test_no_content_with_history_gives_the_first_changed_input() -> None:
    previous = {**file_inputs(fingerprints()["app"]), "args": "sha256:old-args"}
    assert decided({"app": Observed(None, None, previous)})["app"] == (BUILD, "args_changed", "")


def test_parent_rebuilt_names_the_parent_in_decide() -> None:
    previous = {**file_inputs(fingerprints()["child"]), "parent": "p0"}
    assert decided({"child": Observed(None, OTHER, previous)})["child"] == (
        BUILD, "parent_rebuilt: app", "")


# --- build_reason -------------------------------------------------------------------------------


APP_FILES = files(a_txt="sha256:1", b_txt="sha256:2", c_txt="sha256:3", d_txt="sha256:4")


def current() -> Fingerprint:
    return fingerprint("app", files_=APP_FILES)


def previous_with(**changes: str | None) -> dict[str, str]:
    """The current inputs as history records them, with some values changed (None: removed)."""
    recorded = file_inputs(current())
    for key, value in changes.items():
        key = key.replace("__", ":").replace("_", ".")
        if value is None:
            recorded.pop(key)
        else:
            recorded[key] = value
    return recorded


def test_no_history_is_not_in_registry() -> None:
    assert build_reason(current(), None, "base") == "not_in_registry"


def test_nothing_changed_since_the_last_build_is_not_in_registry() -> None:
    assert build_reason(current(), file_inputs(current()), "base") == "not_in_registry"


def test_dockerfile_changed() -> None:
    assert build_reason(current(), previous_with(dockerfile="old"), "base") == "dockerfile_changed"


def test_one_context_file_changed() -> None:
    assert build_reason(current(), previous_with(file__b_txt="644:old"), "base") == "context_changed: b.txt"


def test_a_context_file_added() -> None:
    assert build_reason(current(), previous_with(file__c_txt=None), "base") == "context_changed: c.txt"


def test_a_context_file_removed() -> None:
    previous = {**file_inputs(current()), "file:gone.txt": "644:sha256:9"}
    assert build_reason(current(), previous, "base") == "context_changed: gone.txt"


def test_a_mode_change_is_a_context_change() -> None:
    assert build_reason(current(), previous_with(file__a_txt="755:sha256:1"), "base") == (
        "context_changed: a.txt")


def test_three_context_files_are_all_named() -> None:
    previous = previous_with(file__a_txt="644:x", file__c_txt="644:x", file__d_txt=None)
    assert build_reason(current(), previous, "base") == "context_changed: a.txt, c.txt, d.txt"


def test_more_than_three_context_files_are_cut_after_three() -> None:
    previous = previous_with(file__a_txt="644:x", file__b_txt="644:x", file__c_txt="644:x",
                             file__d_txt="644:x")
    assert build_reason(current(), previous, "base") == "context_changed: a.txt, b.txt, c.txt …"


def test_args_changed() -> None:
    assert build_reason(current(), previous_with(args="old"), "base") == "args_changed"


def test_spec_changed() -> None:
    assert build_reason(current(), previous_with(spec="old"), "base") == "spec_changed"


def test_parent_rebuilt_names_the_parent() -> None:
    assert build_reason(current(), previous_with(parent="p0"), "base") == "parent_rebuilt: base"


def test_a_root_node_whose_base_changed() -> None:
    assert build_reason(current(), previous_with(parent="p0"), None) == "base_changed"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"dockerfile": "x", "file__a_txt": "644:x", "args": "x", "spec": "x", "parent": "x"},
     "dockerfile_changed"),
    ({"file__a_txt": "644:x", "args": "x", "spec": "x", "parent": "x"}, "context_changed: a.txt"),
    ({"args": "x", "spec": "x", "parent": "x"}, "args_changed"),
    ({"spec": "x", "parent": "x"}, "spec_changed"),
])
def test_the_first_changed_input_in_priority_order_wins(changes: dict[str, str], reason: str) -> None:
    assert build_reason(current(), previous_with(**changes), "base") == reason


# --- file_inputs --------------------------------------------------------------------------------


def test_file_inputs_adds_one_key_per_context_file_with_octal_mode() -> None:
    fp = Fingerprint("n", "f" * 64, {"spec": "s", "context": "c"},
                     (ContextFile("run.sh", "sha256:1", 0o755), ContextFile("sub/a.txt", "sha256:2", 0o644),
                      ContextFile("link", "sha256:3", 0o120000)))
    assert file_inputs(fp) == {
        "spec": "s", "context": "c", "file:run.sh": "755:sha256:1", "file:sub/a.txt": "644:sha256:2",
        "file:link": "120000:sha256:3",
    }


def test_file_inputs_without_files_are_the_inputs() -> None:
    fp = Fingerprint("n", "f" * 64, {"spec": "s", "parent": "debian:12"})
    assert file_inputs(fp) == {"spec": "s", "parent": "debian:12"}
