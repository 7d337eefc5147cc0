"""Per-platform builds over a builder pool: each platform of a node on a builder of that platform,
FROM the parent's image of the same platform by digest, pushed under a staging tag of its platform
(`sb-<fingerprint>-linux-arm64`); then one index of those images by digest under the candidate tag,
and the content tag once it holds every planned platform, rests on its parent and passed its tests."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from engine.build import buildlog
from engine.build.buildx_args import platform_push
from engine.build.poolscheduler import BuilderLost, Unit
from engine.errors import EngineError
from engine.run.layers import LayerPrefixError
from engine.run.planner import candidate_ref, content_ref
from engine.run.runner import NodeRunner
from engine.run.smoke import smoke_test
from graph.model.spec import Node

if TYPE_CHECKING:
    from engine.build.builder import PoolBuilderOps

log = structlog.get_logger()


class PlatformMissing(EngineError):
    """A node's index would lack a planned platform: it is not assembled, nothing is tagged."""


class PlatformRunner:
    """The pool scheduler's work functions: build(unit, builder) and merge(node)."""

    def __init__(self, nodes: NodeRunner, builder: PoolBuilderOps) -> None:
        self.nodes, self.builder = nodes, builder
        self.digests: dict[tuple[str, str], str] = {}  # (node, platform) → pushed image digest
        self.lock = threading.Lock()

    def build(self, unit: Unit, builder: str) -> None:
        """Build one platform of a node on builder and push it by digest; BuilderLost when builder died."""
        structlog.contextvars.bind_contextvars(node=unit.node)
        node = self.nodes.planned.graph.nodes[unit.node]
        report = self.nodes.report.nodes[unit.node]
        report.status = "running"
        slug = unit.platform.replace("/", "-")
        log_path = Path(self.nodes.report.folder) / "logs" / f"{unit.node}.{slug}.log"
        try:
            request = self.nodes.request_for(node, self._parent_digest(node, unit.platform), unit.platform)
            staging = f"{content_ref(node, self.nodes.planned.fingerprints[node.name])}-{slug}"
            request = platform_push(replace(request, platforms=(unit.platform,)), staging, builder)
            log.info("platform_started", platform=unit.platform, builder=builder)
            result = self.nodes.build_with_retries(request, log_path, report, node)
            result = self.nodes.on_its_parent(node, request, result, log_path, report, unit.platform,
                                              self._parent_digest(node, unit.platform) or "")
        except EngineError as exc:
            if self.builder.alive(builder):
                report.error, report.status = str(exc), "failed"
                log.error("platform_failed", platform=unit.platform, builder=builder, error=str(exc))
                raise
            raise BuilderLost(builder, unit.node, unit.platform, exc.message) from exc
        finally:
            structlog.contextvars.unbind_contextvars("node")
        with self.lock:
            self.digests[(unit.node, unit.platform)] = result.digest
            report.duration_s = round(report.duration_s + result.duration_s, 2)
            durations = buildlog.platform_durations(
                buildlog.parse_steps(log_path.read_text(encoding="utf-8", errors="replace")))
            report.platform_durations[unit.platform] = durations.get(unit.platform, result.duration_s)
            report.platform_digests[unit.platform] = result.digest
        log.info("platform_built", node=unit.node, platform=unit.platform, builder=builder,
                 digest=result.digest)

    def _parent_digest(self, node: Node, platform: str) -> str | None:
        """The parent's image of platform built in this run; None: its image from the plan or registry."""
        with self.lock:
            return self.digests.get((node.parent, platform)) if node.parent else None

    def merge(self, name: str) -> None:
        """One index of the node's platform images by digest (candidate tag), checked and tested; then
        its content tag."""
        structlog.contextvars.bind_contextvars(node=name)
        node = self.nodes.planned.graph.nodes[name]
        report = self.nodes.report.nodes[name]
        try:
            sources = self._sources(node)
            target = candidate_ref(node, self.nodes.planned.fingerprints[name])
            self.builder.merge(name, self.nodes.route(target), [self.nodes.route(s) for s in sources])
            digest = self.nodes.named_for_the_registry(node, self._merged(node, target))
            self._check_layers(node, digest)
            if self.nodes.settings.test:
                smoke_test(self.nodes.builder, self.nodes.planned.graph, node, digest, report)
            self.nodes.tag_content(node, digest)
        except EngineError as exc:
            report.error, report.status = str(exc), "failed"
            log.error("node_failed", error=str(exc))
            raise
        finally:
            structlog.contextvars.unbind_contextvars("node")
        with self.nodes.lock:
            self.nodes.digests[name] = digest
        report.digest, report.status = digest, "succeeded"
        log.info("node_built", node=name, digest=digest, platforms=len(sources))

    def _sources(self, node: Node) -> list[str]:
        """repository@digest of each planned platform's image; PlatformMissing naming one that is not."""
        sources = []
        for platform in node.platforms:
            with self.lock:
                digest = self.digests.get((node.name, platform))
            if not digest:
                raise PlatformMissing(f"node {node.name}: no image was built for {platform}; the index "
                                      "is not assembled", "build again")
            manifest = self.nodes.registry.manifest(f"{node.repository}@{digest}")
            if manifest is None:
                raise PlatformMissing(f"node {node.name}: the {platform} image {digest} is not in the "
                                      "registry", "build again")
            if manifest.is_index and set(manifest.platforms()) != {platform}:
                raise PlatformMissing(f"node {node.name}: the image built for {platform} holds "
                                      f"{sorted(manifest.platforms())}", "check the builder's platforms")
            sources.append(f"{node.repository}@{digest}")
        return sources

    def _merged(self, node: Node, target: str) -> str:
        """The digest of the index at target, checked to hold exactly the planned platforms."""
        manifest = self.nodes.registry.manifest(target)
        if manifest is None:
            raise PlatformMissing(f"node {node.name}: the merged index {target} is not in the registry",
                                  "build again")
        missing = sorted(set(node.platforms) - set(manifest.platforms()))
        if missing:
            raise PlatformMissing(f"node {node.name}: the merged index lacks {', '.join(missing)}",
                                  "build again")
        return manifest.digest

    def _check_layers(self, node: Node, digest: str) -> None:
        """The merged image rests on its parent's layers on every platform."""
        parent = self.nodes.planned.graph.nodes[node.parent] if node.parent else None
        if parent is None or parent.external:
            return
        problems = self.nodes.prefix_problems(node, parent, digest)
        if problems:
            raise LayerPrefixError("; ".join(problem.message for problem in problems),
                                   "prune the builders' caches and build again")
