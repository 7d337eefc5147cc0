"""The clobber guard against a real registry: a foreign image at a human tag is never replaced unasked.

Tiny stacks (FROM scratch + COPY) into the session's throwaway registry (tests/integration/publishing.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from engine.build.builder import BuildxBuilder
from engine.build.request import BuildRequest
from engine.registry.client import RegistryClient
from engine.registry.retryproxy import RetryProxy, router
from engine.run import api
from tests.integration.publishing import QUIET, options_for, tags, unique, write_stack


def push_foreign(tmp_path: Path, builder: BuildxBuilder, ref: str) -> str:
    """Someone else's image (no labels of ours) pushed straight to ref; its digest."""
    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "foreign.txt").write_text(unique("not ours"), encoding="utf-8")
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY foreign.txt /foreign.txt\n", encoding="utf-8")
    host = ref.split("/", 1)[0]
    with RetryProxy(host.replace("localhost:", "127.0.0.1:", 1)) as proxy:  # as a build would push
        request = BuildRequest(node="foreign", context=folder, dockerfile=folder / "Dockerfile",
                               platforms=("linux/amd64",), tags=(router(host, proxy.host)(ref),))
        return builder.build(request, tmp_path / "foreign.log").digest


def test_a_foreign_tag_is_refused_the_rest_promoted_and_adopt_takes_it_over(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    write_stack(tmp_path, unique("root"), unique("child"))
    options = options_for(tmp_path, f"{registry}/foreign")
    child = api.load(options).nodes["child"]
    theirs = push_foreign(tmp_path, builder, child.ref)
    assert RegistryClient().digest(child.ref) == theirs

    refused = api.build(options, builder, QUIET)
    assert refused.status == "failed"
    assert refused.nodes["root"].status == "succeeded"
    assert refused.nodes["child"].status == "failed"
    error = refused.nodes["child"].error
    assert child.ref in error and theirs in error and "--adopt" in error
    assert tags(options) == {"root": refused.nodes["root"].digest, "child": theirs}  # not clobbered
    assert refused.promoted == [api.load(options).nodes["root"].ref]

    adopted = api.build(options, builder, replace(QUIET, adopt=True))
    assert adopted.status == "succeeded", {n: r.error for n, r in adopted.nodes.items() if r.error}
    assert adopted.buildx_invocations == 0  # built before: only the tag moves
    assert tags(options) == {"root": refused.nodes["root"].digest, "child": refused.nodes["child"].digest}
    assert refused.nodes["child"].digest != theirs


def test_an_older_build_of_ours_is_known_by_its_labels_without_any_state(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    write_stack(tmp_path, unique("root"), unique("child"))
    first = api.build(options_for(tmp_path, f"{registry}/ourlabels"), builder, QUIET)
    assert first.status == "succeeded", {n: r.error for n, r in first.nodes.items() if r.error}
    (tmp_path / "stacks/pub/child/child.txt").write_text(unique("child changed"), encoding="utf-8")
    elsewhere = api.Options(root=tmp_path, registry=f"{registry}/ourlabels",
                            state_dir=tmp_path / "other-state")
    second = api.build(elsewhere, builder, QUIET)  # another machine: no history, no lockfile
    assert second.status == "succeeded", {n: r.error for n, r in second.nodes.items() if r.error}
    assert tags(elsewhere)["child"] == second.nodes["child"].digest != first.nodes["child"].digest
