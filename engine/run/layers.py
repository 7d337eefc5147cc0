"""The layer-prefix invariant: every child's layers start with its parent's, on every platform.

A child is built FROM its parent's exact digest, so its image must rest on exactly those layers.
BuildKit's cache has been seen to put a child on the layers of another build of the same parent;
comparing the pushed manifests (a few GETs per node) catches that before anything is published.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from engine.errors import EngineError
from engine.parallel import side_by_side
from engine.registry.client import Registry
from engine.run.planner import Planned
from engine.state.report import RunReport
from graph.model.spec import Node
from graph.plan.entries import BUILD, RETAG

log = structlog.get_logger()


@dataclass(frozen=True)
class PrefixMismatch:
    """A child whose layers on one platform do not start with its parent's."""

    node: str
    platform: str
    message: str


class LayerPrefixError(EngineError):
    """A pushed child does not rest on its parent's layers (and building it again did not help)."""


def verify_run(planned: Planned, digests: dict[str, str], report: RunReport, registry: Registry,
               reader: LayerReader | None = None) -> bool:
    """Check every node the run built or retagged (and that succeeded); fail the mismatching ones.

    Returns whether every checked node rests on its parent's layers.
    """
    graph = planned.graph.nodes
    checked = [graph[entry.node] for entry in planned.entries
               if entry.action in (BUILD, RETAG) and report.nodes[entry.node].status == "succeeded"
               and _has_stack_parent(graph[entry.node], graph, digests)]
    mismatches = check_layer_prefixes(checked, {n.name: graph[n.parent] for n in checked if n.parent},
                                      digests, registry, reader)
    for mismatch in mismatches:
        node_report = report.nodes[mismatch.node]
        node_report.status = "failed"
        node_report.error = "; ".join(filter(None, (node_report.error, mismatch.message)))
        log.error("layer_prefix_mismatch", node=mismatch.node, platform=mismatch.platform,
                  error=mismatch.message)
    return not mismatches


def verify_publishable(planned: Planned, registry: Registry) -> None:
    """publish (after CI shards): LayerPrefixError naming every child that does not rest on its parent's
    planned image where either one's human tag moves (nothing moves then); layers read side by side."""
    graph = planned.graph.nodes
    digests = {entry.node: entry.digest for entry in planned.entries if entry.digest}
    moving = {entry.node for entry in planned.entries if entry.action == RETAG}
    checked = [graph[entry.node] for entry in planned.entries
               if _has_stack_parent(graph[entry.node], graph, digests)
               and (entry.node in moving or entry.parent in moving)]
    reader = LayerReader(registry)
    images = {(node.repository, digests[node.name], node.platforms)
              for node in (*checked, *(graph[child.parent] for child in checked if child.parent))}
    side_by_side(lambda image: reader.of(*image), sorted(images))
    parents = {node.name: graph[node.parent] for node in checked if node.parent}
    mismatches = check_layer_prefixes(checked, parents, digests, registry, reader)
    if mismatches:
        raise LayerPrefixError("not published: " + "; ".join(mismatch.message for mismatch in mismatches),
                               "build those nodes again on their parents' images (their shard jobs with "
                               "--full, or stackbuild build --full); no human tag was moved")


def _has_stack_parent(node: Node, graph: dict[str, Node], digests: dict[str, str]) -> bool:
    """Whether node has a parent built from the stacks, and both have a known digest."""
    parent = graph.get(node.parent) if node.parent else None
    return parent is not None and not parent.external and node.name in digests and parent.name in digests


def check_layer_prefixes(nodes: Iterable[Node], parents: dict[str, Node], digests: dict[str, str],
                         registry: Registry, reader: LayerReader | None = None) -> list[PrefixMismatch]:
    """The mismatches among nodes (each with its parent in parents and both digests known)."""
    layers = reader or LayerReader(registry)
    mismatches = []
    for node in nodes:
        parent = parents[node.name]
        child_layers = layers.of(node.repository, digests[node.name], node.platforms)
        parent_layers = layers.of(parent.repository, digests[parent.name], parent.platforms)
        for platform in node.platforms:
            problem = prefix_problem(child_layers.get(platform), parent_layers.get(platform), parent.name)
            if problem:
                mismatches.append(PrefixMismatch(node.name, platform, f"node {node.name} on {platform}: "
                                                 f"{problem} ({node.repository}@{digests[node.name]})"))
    return mismatches


def prefix_problem(child: list[str] | None, parent: list[str] | None, parent_name: str) -> str:
    """What is wrong with child's layers as an extension of parent's, '' when nothing is."""
    if child is None:
        return "the pushed image has no manifest for this platform"
    if parent is None:
        return f"parent {parent_name} has no manifest for this platform"
    for position, expected in enumerate(parent):
        found = child[position] if position < len(child) else "nothing"
        if found != expected:
            return (f"layer {position + 1} is {found}, but parent {parent_name}'s is {expected}: "
                    "the image rests on another build of its parent; rebuild it (stackbuild build --full)")
    return ""


class LayerReader:
    """Platform → layer digests of a pushed image, each index and image manifest read once (shared by a
    run's threads: a pool node's platform images are read after their push and again in its merged index)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.cache: dict[str, dict[str, list[str]]] = {}
        self.images: dict[str, list[str]] = {}  # repository@digest of an image manifest → its layers

    def of(self, repository: str, digest: str, platforms: tuple[str, ...]) -> dict[str, list[str]]:
        reference = f"{repository}@{digest}"
        if reference in self.images:  # a lone image: whatever platforms this caller compares it on
            return dict.fromkeys(platforms, self.images[reference])
        if reference not in self.cache:
            self.cache[reference] = self._read(repository, reference, platforms)
        return self.cache[reference]

    def renamed(self, repository: str, digest: str, renamed: str) -> None:
        """renamed is the index digest with only its attestations rewritten (the same image manifests):
        known to have the same layers, so the run's final check does not read it again."""
        known = self.cache.get(f"{repository}@{digest}")
        if known is not None:
            self.cache.setdefault(f"{repository}@{renamed}", known)

    def _read(self, repository: str, reference: str, platforms: tuple[str, ...]) -> dict[str, list[str]]:
        manifest = self.registry.manifest(reference)
        if manifest is None:
            return {}
        if not manifest.is_index:  # one image without an index: it is what every platform gets
            self.images[reference] = manifest.layers()
            return dict.fromkeys(platforms, self.images[reference])
        found = {}
        for platform, digest in manifest.platforms().items():
            layers = self._image(f"{repository}@{digest}")
            if layers is not None:
                found[platform] = layers
        return found

    def _image(self, reference: str) -> list[str] | None:
        """The layers of the image manifest at reference, read once."""
        if reference not in self.images:
            image = self.registry.manifest(reference)
            if image is None:
                return None
            self.images[reference] = image.layers()
        return self.images[reference]
