"""Incremental builds for real: content fingerprints, skips, PR mode, atomic promotion, rollback.

Works on a git copy of the demo stack (tarballs hard-linked) pushed to the throwaway registry once;
every test then gets its own copy of that built repository and state, with the first build's tags.
Smoke tests are off here (test_build_demo runs them); counts come from the run report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.registry.client import RegistryClient
from engine.run import api, publishing
from engine.run.layers import LayerPrefixError
from engine.run.settings import BuildSettings
from engine.state.lockfile import read_lockfile, write_lockfile
from engine.state.report import RunReport
from graph.plan.entries import BUILD, SKIP
from tests.integration.conftest import HOST_CA

QUIET = BuildSettings(jobs=2, keep_going=True, test=False, secrets=HOST_CA)
pytestmark = pytest.mark.timeout(2400)  # the module's first test also builds the demo (cold: QEMU)
DEV_OF = {"numpy": "numpy-dev", "chat-2": "chat-2-dev", "chat-3": "chat-3-dev"}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _copy_demo(repo_root: Path, dest: Path) -> None:
    """stacks/demo (and stacks/tools: its SBOM generator) copied into dest as a git repository; big
    files hard-linked."""
    for stack in ("demo", "tools"):
        shutil.copytree(repo_root / "stacks" / stack, dest / "stacks" / stack,
                        copy_function=lambda src, dst: os.link(src, dst) if os.path.getsize(src) > 1 << 20
                        else shutil.copy2(src, dst))
    chat = dest / "stacks" / "demo" / "llm" / "chat"
    (chat / ".dockerignore").write_text("*.md\n", encoding="utf-8")
    (chat / "NOTES.md").write_text("not part of the image\n", encoding="utf-8")
    (dest / "stacks" / "demo" / "NOTES.txt").write_text("outside every context\n", encoding="utf-8")
    (dest / ".gitignore").write_text("state/\nstacks/demo/os/rootfs/\n", encoding="utf-8")
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    _git(dest, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "demo")


def _commit(repo: Path, message: str) -> None:
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-am", message)


def _built(report: RunReport) -> set[str]:
    return {name for name, node in report.nodes.items() if node.action == BUILD}


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _clone(source: Path, dest: Path) -> None:
    """A copy of a repository folder (git history and state included); big files hard-linked."""
    shutil.copytree(source, dest, symlinks=True,
                    copy_function=lambda src, dst: os.link(src, dst) if os.path.getsize(src) > 1 << 20
                    else shutil.copy2(src, dst))


@pytest.fixture(scope="module")
def demo(repo_root: Path, registry: str, builder: BuildxBuilder,
         tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunReport]:
    """A built copy of the demo stack (never edited afterwards) and the report of its build."""
    repo = tmp_path_factory.mktemp("incremental") / "repo"
    _copy_demo(repo_root, repo)
    first = api.build(_options(repo, registry), builder, QUIET)
    assert first.status == "succeeded", {n: r.error for n, r in first.nodes.items() if r.error}
    return repo, first


def _options(repo: Path, registry: str) -> api.Options:
    return api.Options(root=repo, targets=(Path("stacks/tools"), Path("stacks/demo")),
                       registry=f"{registry}/inc",
                       state_dir=repo / "state")


@pytest.fixture
def fresh(demo: tuple[Path, RunReport], registry: str, tmp_path: Path) -> tuple[api.Options, RunReport]:
    """This test's own copy of the built demo (files, git, state) with the human tags of the first build.

    Tests share the registry, so each edits with its own text: no test can meet another's content tag.
    """
    pristine, first = demo
    repo = tmp_path / "repo"
    _clone(pristine, repo)
    options = _options(repo, registry)
    publishing.promote_lockfile(options, Path(first.lockfile))  # undo whatever an earlier test published
    return options, first


def test_a_second_build_of_an_unchanged_stack_runs_no_build(fresh, builder):
    options, first = fresh
    assert _built(first) == set(first.nodes)
    second = api.build(options, builder, QUIET)
    assert second.buildx_invocations == 0
    assert {node.action for node in second.nodes.values()} == {SKIP}
    assert {node.reason for node in second.nodes.values()} == {"up_to_date"}
    manifest_requests = {k: v for k, v in second.registry_requests.items() if k != "ping"}
    assert sum(manifest_requests.values()) <= len(second.nodes)  # at most one manifest request a node
    assert second.registry_requests.get("ping", 0) <= 1  # and one GET /v2/ for the registry


def test_editing_a_framework_dockerfile_rebuilds_it_and_its_descendants_only(fresh, builder, tmp_path):
    options, first = fresh
    _append(options.root / "stacks/demo/framework/numpy/Dockerfile", "# touched by the dockerfile test\n")
    report = api.build(options, builder, QUIET)
    assert _built(report) == {"numpy", "numpy-dev", "chat-2", "chat-3", "chat-2-dev", "chat-3-dev",
                              "ymir", "ymir-dev"}
    assert report.builds == 8
    assert report.nodes["numpy"].reason == "dockerfile_changed"
    assert report.nodes["tinygrad"].action == SKIP
    assert report.nodes["python-sdk"].action == SKIP
    # numpy's new build (a comment changed) has new labels but the same layers: chat-2's first build,
    # rolled back alone, still rests on it (the real registry's labels and layers are compared)
    registry, graph = RegistryClient(), api.load(options)
    numpy = graph.nodes["numpy"].ref
    assert registry.digest(numpy) == report.nodes["numpy"].digest != first.nodes["numpy"].digest
    chat_alone = [entry for entry in read_lockfile(Path(first.lockfile)) if entry.node == "chat-2"]
    lockfile = write_lockfile(tmp_path / "chat.lock.json", "r", chat_alone)
    assert publishing.promote_lockfile(options, lockfile) == [graph.nodes["chat-2"].ref]
    assert registry.digest(graph.nodes["chat-2"].ref) == first.nodes["chat-2"].digest


def test_context_edits_count_only_when_the_build_can_see_them(fresh, builder):
    options, _ = fresh
    chat = options.root / "stacks/demo/llm/chat"
    _append(chat / "NOTES.md", "ignored by .dockerignore\n")
    _append(options.root / "stacks/demo/NOTES.txt", "outside every context\n")
    assert api.build(options, builder, QUIET).buildx_invocations == 0
    _append(chat / "app.py", "# touched by the context test\n")
    report = api.build(options, builder, QUIET)
    assert _built(report) == {"chat-2", "chat-3", "chat-2-dev", "chat-3-dev"}
    assert report.nodes["chat-2"].reason == "context_changed: app.py"


def test_changing_one_build_arg_rebuilds_that_node_and_its_descendants(fresh, builder):
    options, _ = fresh
    stack = options.root / "stacks/demo/stack.yaml"
    text = stack.read_text(encoding="utf-8")
    assert 'args: {NGRAM: "{ngram}"}' in text
    stack.write_text(text.replace('args: {NGRAM: "{ngram}"}', 'args: {NGRAM: "{ngram}", EXTRA: "args-test"}'),
                     encoding="utf-8")
    report = api.build(options, builder, QUIET)
    assert _built(report) == {"chat-2", "chat-3", "chat-2-dev", "chat-3-dev"}
    assert report.nodes["chat-2"].reason == "args_changed"
    assert report.nodes["chat-2-dev"].reason == "parent_rebuilt: chat-2"


def test_changed_since_plans_only_the_nodes_a_commit_touches(fresh):
    options, _ = fresh
    _append(options.root / "stacks/demo/framework/tinygrad/Dockerfile", "# touched by the PR test\n")
    _commit(options.root, "touch tinygrad")
    entries = api.plan(options, RegistryClient(), changed_since="HEAD~1")
    planned = {entry.node: (entry.action, entry.reason) for entry in entries}
    assert {name for name, (action, _) in planned.items() if action == BUILD} == {"tinygrad", "tinygrad-dev"}
    assert planned["tinygrad"] == (BUILD, "dockerfile_changed")
    assert planned["tinygrad-dev"] == (BUILD, "parent_rebuilt: tinygrad")
    assert planned["numpy"] == (SKIP, "unchanged_since_ref")


def test_a_pr_on_a_parent_main_merged_but_never_built_builds_that_parent_first(fresh, builder):
    options, first = fresh
    _append(options.root / "stacks/demo/framework/numpy/Dockerfile", "# merged on main, not built yet\n")
    _commit(options.root, "main: touch numpy")
    _append(options.root / "stacks/demo/llm/chat/app.py", "# touched by the PR-on-unbuilt-parent test\n")
    _commit(options.root, "the PR: touch chat")
    report = api.build(options, builder, replace(QUIET, changed_since="HEAD~1"))  # publishes
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
    assert _built(report) == {"numpy", "chat-2", "chat-3", "chat-2-dev", "chat-3-dev"}
    assert report.nodes["numpy"].reason.startswith("needed_by_change: ")
    registry, graph = RegistryClient(), api.load(options)
    assert registry.digest(graph.nodes["numpy"].ref) == first.nodes["numpy"].digest  # main's to move
    chat = registry.digest(graph.nodes["chat-2"].ref)
    assert chat == report.nodes["chat-2"].digest != first.nodes["chat-2"].digest  # checked: on the new numpy


def test_a_failing_node_publishes_nothing_and_promote_rolls_back(fresh, builder, tmp_path):
    options, first = fresh
    registry = RegistryClient()
    graph = api.load(options)
    before = {name: registry.digest(graph.nodes[name].ref) for name in graph.order}
    assert before == {name: first.nodes[name].digest for name in graph.order}
    _append(options.root / "stacks/demo/framework/numpy/Dockerfile", "# touched by the failing-run test\n")
    _append(options.root / "stacks/demo/llm/chat/Dockerfile", "RUN exit 3\n")
    report = api.build(options, builder, QUIET)
    assert report.status == "failed"
    assert report.nodes["numpy"].status == "succeeded"
    assert report.nodes["chat-2"].status == "failed"
    assert report.promoted == []
    assert {name: registry.digest(graph.nodes[name].ref) for name in graph.order} == before
    # a later publication moved numpy's tag (to tinygrad's image, same repository): promote moves it back
    numpy, tinygrad = graph.nodes["numpy"], graph.nodes["tinygrad"]
    assert numpy.repository == tinygrad.repository
    registry.tag(f"{tinygrad.repository}@{first.nodes['tinygrad'].digest}", numpy.ref)
    assert registry.digest(numpy.ref) == first.nodes["tinygrad"].digest
    # and chat-2's: rolled back alone, chat-2 would rest on another image than numpy's tag, so nothing moves
    chat, chat_3 = graph.nodes["chat-2"], graph.nodes["chat-3"]
    assert chat.repository == chat_3.repository
    registry.tag(f"{chat_3.repository}@{first.nodes['chat-3'].digest}", chat.ref)
    tags = {name: registry.digest(graph.nodes[name].ref) for name in graph.order}
    chat_alone = [entry for entry in read_lockfile(Path(first.lockfile)) if entry.node == "chat-2"]
    with pytest.raises(LayerPrefixError) as refused:
        publishing.promote_lockfile(options, write_lockfile(tmp_path / "chat.lock.json", "r", chat_alone))
    assert (f"node chat-2 ({chat.ref} at {first.nodes['chat-2'].digest}) on linux/amd64 was built on "
            f"{numpy.ref}@{first.nodes['numpy'].digest}, but that tag would point at "
            f"{first.nodes['tinygrad'].digest}") in refused.value.message
    assert {name: registry.digest(graph.nodes[name].ref) for name in graph.order} == tags
    moved = publishing.promote_lockfile(options, Path(first.lockfile))
    assert len(moved) == len(first.nodes)
    assert registry.digest(numpy.ref) == first.nodes["numpy"].digest
