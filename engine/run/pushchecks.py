"""A node's pushed image checked: it rests on its parent's layers, its attestations name the registry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import structlog

from engine.build.builder import BuildResult
from engine.build.request import BuildRequest
from engine.registry.attestations import AttestationStore, rename_attestations
from engine.run.layers import LayerPrefixError, PrefixMismatch, check_layer_prefixes
from engine.run.planner import candidate_tag
from engine.state.report import NodeReport
from graph.model.spec import Node

if TYPE_CHECKING:
    from engine.run.runner import NodeRunner

log = structlog.get_logger()


def checked_and_named(runner: NodeRunner, node: Node, request: BuildRequest, result: BuildResult,
                      log_path: Path, node_report: NodeReport) -> BuildResult:
    """The layer-prefix check, and for a node built through the retry proxy the attestation renaming
    of the pushed index side by side (each a few registry round trips while the node holds a job);
    a rebuild after a failed check is renamed."""
    if not renamed_after_push(runner, node):
        return on_its_parent(runner, node, request, result, log_path, node_report)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rename") as pool:
        naming = pool.submit(named_for_the_registry, runner, node, result.digest)
        checked = on_its_parent(runner, node, request, result, log_path, node_report)
        named = naming.result()
    if checked.digest != result.digest:  # built once more without cache
        named = named_for_the_registry(runner, node, checked.digest)
    runner.layers.renamed(node.repository, checked.digest, named)
    return replace(checked, digest=named)


def on_its_parent(runner: NodeRunner, node: Node, request: BuildRequest, result: BuildResult,
                  log_path: Path, node_report: NodeReport, platform: str = "",
                  parent_digest: str = "") -> BuildResult:
    """The pushed child must rest on its parent's layers on every platform (on platform, over the
    parent image parent_digest, when given). BuildKit's cache can put it on another build of the
    same parent: then it is built once more without cache."""
    parent = runner.planned.graph.nodes[node.parent] if node.parent else None
    if parent is None or parent.external or runner.settings.load:  # --load: no registry to read
        return result
    problems = prefix_problems(runner, node, parent, result.digest, platform, parent_digest)
    if not problems:
        return result
    log.warning("layer_prefix_rebuild", node=node.name, error=problems[0].message)
    runner.count_retry(node_report)
    result = runner.build_with_retries(replace(request, no_cache=True, cache_from=""), log_path,
                                       node_report, node)
    problems = prefix_problems(runner, node, parent, result.digest, platform, parent_digest)
    if problems:
        raise LayerPrefixError("; ".join(problem.message for problem in problems),
                               "the builder keeps reusing layers of another build of the parent: "
                               "prune its build cache (docker builder prune) and build again")
    return result


def renamed_after_push(runner: NodeRunner, node: Node) -> bool:
    """Whether node's attestations name the retry proxy: it was built through it (a repeat after a
    registry fault) with a provenance, on a registry whose attestations can be rewritten."""
    if not runner.proxied or node.provenance == "off" or not isinstance(runner.registry, AttestationStore):
        return False
    with runner.lock:
        return node.name in runner.through_proxy


def named_for_the_registry(runner: NodeRunner, node: Node, digest: str) -> str:
    """The pushed index with its attestations naming the real registry, not the retry proxy (which
    they name only when the node was built through it: a repeat after a registry fault)."""
    if not renamed_after_push(runner, node):
        return digest
    fingerprint = runner.planned.fingerprints[node.name]
    store = cast(AttestationStore, runner.registry)  # renamed_after_push checked it is one
    renamed = rename_attestations(store, node.repository, candidate_tag(fingerprint), digest,
                                  runner.proxied[1], runner.proxied[0])
    if renamed != digest:
        log.info("attestations_renamed", node=node.name, proxy=runner.proxied[1], registry=runner.proxied[0])
    return renamed


def prefix_problems(runner: NodeRunner, node: Node, parent: Node, digest: str, platform: str = "",
                    parent_digest: str = "") -> list[PrefixMismatch]:
    """Where node's pushed image (digest) does not start with its parent's layers, per platform (on
    platform only, when given; over the parent image parent_digest, when given)."""
    if platform:
        node, parent = replace(node, platforms=(platform,)), replace(parent, platforms=(platform,))
    digests = {node.name: digest, parent.name: parent_digest or runner.parents.of(parent)}
    return check_layer_prefixes([node], {node.name: parent}, digests, runner.registry, runner.layers)
