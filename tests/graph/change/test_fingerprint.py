"""graph.change.fingerprint: what changes a node's fingerprint (and its descendants'), and what does not."""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from graph.change.fingerprint import (
    CONTENT_TAG_PREFIX,
    Fingerprint,
    changed_inputs,
    fingerprint_graph,
    with_secrets,
)
from graph.context.files import ContextFile
from graph.errors import StackError
from graph.expand.assemble import load_graph
from graph.expand.dag import StackGraph, with_registry
from graph.model import checks

ALL = {"base", "a", "b", "c", "sib"}
BUILT = ("a", "b", "c", "sib")


def stack_data() -> dict[str, Any]:
    """base (external) → a → b → c, and sib, a sibling of b on a."""
    return {
        "stack": "s",
        "registry": "r.example/x",
        "platforms": ["linux/amd64", "linux/arm64"],
        "nodes": {
            "base": {"kind": "os", "from": "debian:12"},
            "a": {"kind": "sdk", "parent": "base", "tag": "a1"},
            "b": {"kind": "framework", "parent": "a", "tag": "b1", "args": {"V": "1"},
                  "attrs": {"flavour": "one"}, "secrets": [{"id": "tok", "env": "TOKEN"}],
                  "test": "true"},
            "c": {"kind": "llm", "parent": "b", "tag": "c1"},
            "sib": {"kind": "framework", "parent": "a", "tag": "s1"},
        },
    }


def write_files(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_stack_data(root: Path, data: dict[str, Any]) -> None:
    (root / "s").mkdir(parents=True, exist_ok=True)
    (root / "s" / "stack.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture
def repo(root: Path) -> Path:
    """The stack of stack_data() with a Dockerfile, an app file and a .dockerignore per node."""
    write_stack_data(root, stack_data())
    for name in BUILT:
        write_files(root, {
            f"s/{name}/Dockerfile": f"FROM scratch\n# {name}\n",
            f"s/{name}/app.txt": f"app of {name}\n",
            f"s/{name}/.dockerignore": "*.log\n",
            f"s/{name}/debug.log": "noise\n",
        })
    write_files(root, {"s/README.md": "notes\n", "outside/file.txt": "x\n"})
    return root


def graph_of_repo(root: Path) -> StackGraph:
    return load_graph(root, [Path("s")])


def fingerprints(root: Path, bases: dict[str, str] | None = None) -> dict[str, Fingerprint]:
    return fingerprint_graph(graph_of_repo(root), root, bases)


def differing(old: dict[str, Fingerprint], new: dict[str, Fingerprint]) -> set[str]:
    assert set(old) == set(new)
    return {name for name in old if old[name].value != new[name].value}


def edit_data(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load((root / "s" / "stack.yaml").read_text(encoding="utf-8"))
    change(data)
    write_stack_data(root, data)


# --- determinism --------------------------------------------------------------------------------


def test_fingerprints_are_deterministic(repo: Path) -> None:
    first, second = fingerprints(repo), fingerprints(repo)
    assert first == second
    assert set(first) == ALL


def test_fingerprints_do_not_depend_on_where_the_checkout_is(repo: Path, tmp_path: Path) -> None:
    copy_root = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(repo, copy_root)
    here, there = fingerprints(repo), fingerprints(copy_root)
    assert {name: fp.value for name, fp in here.items()} == {name: fp.value for name, fp in there.items()}


def test_touching_a_file_without_changing_it_changes_nothing(repo: Path) -> None:
    before = fingerprints(repo)
    os.utime(repo / "s" / "b" / "app.txt", (1, 1))
    os.utime(repo / "s" / "b" / "Dockerfile", (1, 1))
    assert differing(before, fingerprints(repo)) == set()


# --- what a fingerprint is made of -------------------------------------------------------------


def test_a_built_node_records_its_inputs(repo: Path) -> None:
    result = fingerprints(repo)
    b = result["b"]
    contents = {".dockerignore": b"*.log\n", "Dockerfile": b"FROM scratch\n# b\n", "app.txt": b"app of b\n"}
    digests = {path: "sha256:" + hashlib.sha256(data).hexdigest() for path, data in contents.items()}
    assert [(item.path, item.digest, item.mode) for item in b.files] == [
        (".dockerignore", digests[".dockerignore"], 0o644), ("Dockerfile", digests["Dockerfile"], 0o644),
        ("app.txt", digests["app.txt"], 0o644)]  # debug.log is ignored
    assert set(b.inputs) == {"spec", "args", "parent", "dockerfile", "context"}
    assert b.inputs["dockerfile"] == digests["Dockerfile"]
    # the documented record format: path NUL mode(octal) NUL digest LF, sorted, after a version header
    records = sorted(f"{path}\x00644\x00{digest}\n".encode() for path, digest in digests.items())
    assert b.inputs["context"] == "sha256:" + hashlib.sha256(
        b"stackbuild-context-v1\n" + b"".join(records)).hexdigest()
    assert b.inputs["parent"] == result["a"].value
    assert b.node == "b"
    assert result["a"].inputs["parent"] == result["base"].value


ONE, TWO = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_an_external_node_counts_by_its_reference_until_resolved(repo: Path) -> None:
    result = fingerprints(repo)
    base = result["base"]
    assert base.inputs == {"spec": base.inputs["spec"], "args": base.inputs["args"], "parent": "debian:12",
                           "base": ""}
    assert base.files == ()
    assert result["a"].inputs["base"] == ""  # built directly on the base: records its digest too
    assert "base" not in result["b"].inputs  # built on a node of ours: its parent's fingerprint says it


def test_a_new_external_reference_changes_every_node(repo: Path) -> None:
    before = fingerprints(repo)
    edit_data(repo, lambda data: data["nodes"]["base"].update({"from": "debian:13"}))
    assert differing(before, fingerprints(repo)) == ALL


def test_the_resolved_digest_is_an_input_of_the_base_and_its_children(repo: Path) -> None:
    result = fingerprints(repo, {"debian:12": ONE, "unused:1": TWO})
    assert result["base"].inputs["base"] == ONE
    assert result["a"].inputs["base"] == ONE
    assert fingerprints(repo, {"debian:12": ONE}) == result
    assert differing(fingerprints(repo), result) == ALL  # by digest differs from by reference


def _add_second_base(data: dict[str, Any]) -> None:
    data["nodes"]["alpine"] = {"kind": "os", "from": "alpine:3"}
    data["nodes"]["on-alpine"] = {"kind": "sdk", "parent": "alpine", "tag": "o1",
                                  "dockerfile": "a/Dockerfile", "context": "a"}


def test_a_moved_base_changes_exactly_its_subtree(repo: Path) -> None:
    edit_data(repo, _add_second_base)
    before = fingerprints(repo, {"debian:12": ONE, "alpine:3": ONE})
    after = fingerprints(repo, {"debian:12": TWO, "alpine:3": ONE})
    assert differing(before, after) == ALL
    assert before["on-alpine"] == after["on-alpine"]
    assert before["alpine"] == after["alpine"]


# --- what changes a node and its descendants ----------------------------------------------------


def _dockerfile(root: Path) -> None:
    (root / "s/b/Dockerfile").write_text("FROM scratch\n# b, edited\n", encoding="utf-8")


def _context_file(root: Path) -> None:
    (root / "s/b/app.txt").write_text("app of b, edited\n", encoding="utf-8")


def _new_context_file(root: Path) -> None:
    write_files(root, {"s/b/sub/new.txt": "new\n"})


def _removed_context_file(root: Path) -> None:
    (root / "s/b/app.txt").unlink()


def _executable_bit(root: Path) -> None:
    (root / "s/b/app.txt").chmod(0o755)


def _empty_folder(root: Path) -> None:
    (root / "s/b/data/cache").mkdir(parents=True)  # `COPY . /app` creates /app/data/cache


def _arg(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"]["args"].update({"V": "2"}))


def _new_arg(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"]["args"].update({"W": "1"}))


def _target(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"].update({"target": "final"}))


def _platforms(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"].update({"platforms": ["linux/amd64"]}))


def _attrs(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"].update({"attrs": {"flavour": "two"}}))


def _secret_id(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"].update({"secrets": [{"id": "other", "env": "TOKEN"}]}))


@pytest.mark.parametrize("edit", [
    _dockerfile, _context_file, _new_context_file, _removed_context_file, _executable_bit, _empty_folder,
    _arg, _new_arg, _target, _platforms, _attrs, _secret_id,
])
def test_an_input_change_changes_the_node_and_its_descendants_only(repo: Path,
                                                                   edit: Callable[[Path], None]) -> None:
    before = fingerprints(repo)
    edit(repo)
    after = fingerprints(repo)
    assert differing(before, after) == {"b", "c"}


@pytest.mark.parametrize(("edit", "changed"), [
    (_dockerfile, ["context", "dockerfile"]),  # the Dockerfile is inside its context
    (_context_file, ["context"]),
    (_executable_bit, ["context"]),
    (_arg, ["args"]),
    (_target, ["spec"]),
    (_attrs, ["spec"]),
])
def test_changed_inputs_names_what_changed(repo: Path, edit: Callable[[Path], None],
                                           changed: list[str]) -> None:
    before = fingerprints(repo)
    edit(repo)
    after = fingerprints(repo)
    assert changed_inputs(before["b"].inputs, after["b"].inputs) == changed
    child = changed_inputs(before["c"].inputs, after["c"].inputs)
    assert "parent" in child
    assert set(child) <= {"parent", "spec"}  # attrs and platforms are inherited


def test_the_provenance_mode_is_an_input_of_every_built_node(repo: Path) -> None:
    before = fingerprints(repo)
    edit_data(repo, lambda data: data.update({"provenance": "min"}))
    assert differing(before, fingerprints(repo)) == set(BUILT)  # the pushed indexes would differ
    edit_data(repo, lambda data: data.update({"provenance": "max"}))  # the default, written out
    assert differing(before, fingerprints(repo)) == set()


def test_a_parent_input_change_reaches_every_descendant(repo: Path) -> None:
    before = fingerprints(repo)
    (repo / "s/a/app.txt").write_text("app of a, edited\n", encoding="utf-8")
    after = fingerprints(repo)
    assert differing(before, after) == {"a", "b", "c", "sib"}
    assert changed_inputs(before["b"].inputs, after["b"].inputs) == ["parent"]
    assert changed_inputs(before["sib"].inputs, after["sib"].inputs) == ["parent"]


def test_a_leaf_change_changes_only_the_leaf(repo: Path) -> None:
    before = fingerprints(repo)
    (repo / "s/c/app.txt").write_text("edited\n", encoding="utf-8")
    assert differing(before, fingerprints(repo)) == {"c"}


def test_withheld_secrets_change_the_nodes_declaring_secrets_and_their_descendants(repo: Path) -> None:
    """An image built without its secrets is another image: a run that passes them must not reuse it
    (BuildKit's cache leaves secrets out, so the build itself cannot tell)."""
    graph = graph_of_repo(repo)
    trusted, withheld = fingerprint_graph(graph, repo), fingerprint_graph(graph, repo, withheld=True)
    assert differing(trusted, withheld) == {"b", "c"}  # b declares a secret; c is built on b
    assert changed_inputs(trusted["b"].inputs, withheld["b"].inputs) == ["secrets"]
    assert withheld["b"].inputs["secrets"] == "withheld"
    assert changed_inputs(trusted["c"].inputs, withheld["c"].inputs) == ["parent"]
    assert fingerprint_graph(graph, repo, withheld=False) == trusted


def test_with_secrets_gives_a_withheld_runs_nodes_the_fingerprints_of_a_run_passing_them(repo: Path) -> None:
    """What a --no-secrets run looks an untouched parent up by once its own content tag is missing."""
    graph, bases = graph_of_repo(repo), {"debian:12": "sha256:" + "1" * 64}
    trusted = fingerprint_graph(graph, repo, bases)
    assert with_secrets(graph, fingerprint_graph(graph, repo, bases, withheld=True)) == trusted
    assert with_secrets(graph, trusted) == trusted


def test_withholding_changes_nothing_when_no_node_declares_a_secret(repo: Path) -> None:
    edit_data(repo, lambda data: data["nodes"]["b"].pop("secrets"))
    graph = graph_of_repo(repo)
    assert fingerprint_graph(graph, repo, withheld=True) == fingerprint_graph(graph, repo)


# --- what changes nothing -----------------------------------------------------------------------


def _ignored_file(root: Path) -> None:
    (root / "s/b/debug.log").write_text("more noise\n", encoding="utf-8")


def _new_ignored_file(root: Path) -> None:
    write_files(root, {"s/b/sub/trace.log": "x\n"})  # '*.log' is anchored: sub/trace.log is visible


def _new_ignored_root_file(root: Path) -> None:
    write_files(root, {"s/b/new.log": "x\n"})


def _new_ignored_folder(root: Path) -> None:
    (root / "s/b/old.log").mkdir()  # '*.log' leaves the folder out


def _outside_every_context(root: Path) -> None:
    (root / "s/README.md").write_text("other notes\n", encoding="utf-8")
    (root / "outside/file.txt").write_text("y\n", encoding="utf-8")
    write_files(root, {"elsewhere/new.txt": "z\n"})


def _tag(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"].update({"tag": "renamed"}))


def _image(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"].update({"image": "other-image"}))


def _registry(root: Path) -> None:
    edit_data(root, lambda data: data.update({"registry": "mirror.example:5000/y"}))


def _test_command(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"].update({"test": "echo other"}))


def _secret_source(root: Path) -> None:
    edit_data(root, lambda data: data["nodes"]["b"].update({"secrets": [{"id": "tok", "src": "/x"}]}))


@pytest.mark.parametrize("edit", [
    _ignored_file, _new_ignored_root_file, _new_ignored_folder, _outside_every_context, _tag, _image,
    _registry, _test_command, _secret_source,
])
def test_edits_that_do_not_change_the_image_change_nothing(repo: Path, edit: Callable[[Path], None]) -> None:
    before = fingerprints(repo)
    edit(repo)
    assert fingerprints(repo) == before


def test_a_renamed_node_is_a_new_image(repo: Path) -> None:
    # its image carries its name (org.stackbuild.node, which sign and verify check): reusing the image
    # of the old name would publish that label under the new one (a `name:` template, or a parent
    # definition's second node, renames nodes whose definition stays the same)
    before = fingerprints(repo)
    edit_data(repo, lambda data: data["nodes"]["b"].update(name="bee"))
    after = fingerprints(repo)
    assert after["bee"].value != before["b"].value
    assert after["c"].value != before["c"].value
    assert {name: after[name] for name in ("base", "a", "sib")} == {
        name: before[name] for name in ("base", "a", "sib")}


def test_a_renamed_external_base_changes_nothing(repo: Path) -> None:
    before = fingerprints(repo)
    edit_data(repo, lambda data: data.update(nodes={("os" if name == "base" else name): spec
                                                    for name, spec in data["nodes"].items()}))
    edit_data(repo, lambda data: data["nodes"]["a"].update(parent="os"))
    assert fingerprints(repo)["a"].value == before["a"].value


def test_a_folder_whose_files_are_all_ignored_still_counts(repo: Path) -> None:
    write_files(repo, {"s/b/logs/app.log.1": "x\n", "s/b/.dockerignore": "*.log\nlogs/*\n"})
    before = fingerprints(repo)  # the build is sent an empty logs/: the image has it
    shutil.rmtree(repo / "s/b/logs")
    assert differing(before, fingerprints(repo)) == {"b", "c"}


def test_dockerignore_is_anchored_so_a_nested_log_counts(repo: Path) -> None:
    before = fingerprints(repo)
    _new_ignored_file(repo)
    assert differing(before, fingerprints(repo)) == {"b", "c"}


def test_another_registry_changes_nothing(repo: Path) -> None:
    stack_graph = graph_of_repo(repo)
    moved = with_registry(stack_graph, "mirror.example:5000/y")
    assert moved.nodes["b"].registry == "mirror.example:5000/y"
    assert fingerprint_graph(moved, repo) == fingerprint_graph(stack_graph, repo)


# --- the Dockerfile-specific ignore file --------------------------------------------------------


def test_the_dockerfile_specific_ignore_file_wins(repo: Path) -> None:
    write_files(repo, {"s/b/Dockerfile.dockerignore": "secret.txt\n", "s/b/secret.txt": "s1\n"})
    before = fingerprints(repo)
    assert [item.path for item in before["b"].files] == [
        ".dockerignore", "Dockerfile", "Dockerfile.dockerignore", "app.txt", "debug.log"]
    (repo / "s/b/secret.txt").write_text("s2\n", encoding="utf-8")
    assert fingerprints(repo) == before  # ignored by Dockerfile.dockerignore
    (repo / "s/b/debug.log").write_text("now visible\n", encoding="utf-8")
    assert differing(before, fingerprints(repo)) == {"b", "c"}  # .dockerignore no longer applies


def test_the_dockerfile_specific_ignore_file_beside_a_dockerfile_outside_the_context(root: Path) -> None:
    write_files(root, {
        "s/stack.yaml": "stack: s\nregistry: r\nnodes:\n  n:\n    kind: os\n    tag: '1'\n"
                        "    dockerfile: docker/n.Dockerfile\n    context: ctx\n",
        "s/docker/n.Dockerfile": "FROM scratch\n",
        "s/docker/n.Dockerfile.dockerignore": "secret.txt\n",
        "s/ctx/app.txt": "a\n",
        "s/ctx/secret.txt": "s1\n",
    })
    before = fingerprints(root)
    assert [item.path for item in before["n"].files] == ["app.txt"]
    (root / "s/ctx/secret.txt").write_text("s2\n", encoding="utf-8")
    assert fingerprints(root) == before
    (root / "s/docker/n.Dockerfile.dockerignore").write_text("other.txt\n", encoding="utf-8")
    after = fingerprints(root)
    assert [item.path for item in after["n"].files] == ["app.txt", "secret.txt"]
    assert changed_inputs(before["n"].inputs, after["n"].inputs) == ["context"]


def test_a_shadowed_dockerignore_counts_only_as_a_file_the_build_sends(repo: Path) -> None:
    """Beside Dockerfile.dockerignore, the context's .dockerignore sets no pattern: when the former
    excludes it, editing it changes nothing; when the build sends it, it is content like any file."""
    write_files(repo, {"s/b/Dockerfile.dockerignore": ".dockerignore\n"})
    before = fingerprints(repo)
    assert [item.path for item in before["b"].files] == ["Dockerfile", "Dockerfile.dockerignore", "app.txt",
                                                         "debug.log"]
    (repo / "s/b/.dockerignore").write_text("app.txt\n", encoding="utf-8")
    assert fingerprints(repo) == before
    write_files(repo, {"s/b/Dockerfile.dockerignore": "debug.log\n"})
    sent = fingerprints(repo)
    assert ".dockerignore" in [item.path for item in sent["b"].files]
    (repo / "s/b/.dockerignore").write_text("*.log\n", encoding="utf-8")
    assert differing(sent, fingerprints(repo)) == {"b", "c"}


# --- -dev siblings ------------------------------------------------------------------------------


def test_dev_siblings_follow_their_node_and_their_own_dockerfile(repo: Path) -> None:
    data = copy.deepcopy(stack_data())
    data["dev"] = {"dockerfile": "dev/Dockerfile", "except": ["c"]}
    write_stack_data(repo, data)
    write_files(repo, {"s/dev/Dockerfile": "FROM scratch\n# dev\n"})
    before = fingerprints(repo)
    assert set(before) == ALL | {"a-dev", "b-dev", "sib-dev"}
    _context_file(repo)
    assert differing(before, fingerprints(repo)) == {"b", "c", "b-dev"}
    before = fingerprints(repo)
    (repo / "s/dev/Dockerfile").write_text("FROM scratch\n# dev, edited\n", encoding="utf-8")
    assert differing(before, fingerprints(repo)) == {"a-dev", "b-dev", "sib-dev"}


# --- content tags and changed_inputs ------------------------------------------------------------


def test_content_tag_is_the_prefixed_hex_digest_and_a_valid_tag(repo: Path) -> None:
    for fingerprint in fingerprints(repo).values():
        assert re.fullmatch(r"[0-9a-f]{64}", fingerprint.value)
        assert fingerprint.content_tag == "sb-" + fingerprint.value
        assert CONTENT_TAG_PREFIX == "sb-"
        assert len(fingerprint.content_tag) == 67
        assert checks.tag_problem(fingerprint.content_tag) == ""


def test_content_tag_of_a_literal_fingerprint() -> None:
    fingerprint = Fingerprint("n", "ab" * 32, {}, (ContextFile("f", "sha256:x", 0o644),))
    assert fingerprint.content_tag == "sb-" + "ab" * 32


def test_changed_inputs_lists_differences_sorted_missing_included() -> None:
    assert changed_inputs({"b": "1", "a": "2", "same": "x"}, {"a": "3", "c": "4", "same": "x"}) == [
        "a", "b", "c"]
    assert changed_inputs({"a": "1"}, {"a": "1"}) == []
    assert changed_inputs({}, {}) == []
    assert changed_inputs({}, {"x": ""}) == ["x"]  # missing is different even from an empty value


def test_a_context_error_names_the_node_and_its_stack_file(repo: Path) -> None:
    (repo / "s/b/.git").mkdir()
    (repo / "s/b/.git/config").write_text("[http]\n", encoding="utf-8")
    with pytest.raises(StackError) as caught:
        fingerprints(repo)
    assert (str(caught.value.location), caught.value.message.split(":")[0]) == ("s/stack.yaml:14", "node b")


def test_a_context_sending_a_credential_file_is_refused_at_the_nodes_line(repo: Path) -> None:
    (repo / "s/b/gha-creds-abc.json").write_text('{"type": "service_account"}\n', encoding="utf-8")
    with pytest.raises(StackError) as caught:
        fingerprints(repo)
    assert str(caught.value.location) == "s/stack.yaml:14"
    assert caught.value.message.startswith(
        f"node b: build context {repo / 's/b'} would send gha-creds-abc.json, ")
    (repo / "s/b/.dockerignore").write_text("*.log\ngha-creds-*.json\n", encoding="utf-8")
    assert "gha-creds-abc.json" not in {item.path for item in fingerprints(repo)["b"].files}
