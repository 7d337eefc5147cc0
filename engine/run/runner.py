"""Builds one node in a worker thread: parent digest in, content tag pushed and tested, digest out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from tenacity import RetryCallState

from engine.build import buildlog
from engine.build.builder import BuildResult
from engine.build.request import BuildRequest, Provenance
from engine.errors import BuildError, EngineError
from engine.registry.client import Registry
from engine.run import pushchecks
from engine.run.early import EarlyParents, ParentChanged
from engine.run.faults import fault_retry
from engine.run.layers import LayerReader, PrefixMismatch
from engine.run.noderequest import node_request
from engine.run.parents import ParentDigests
from engine.run.planner import Planned, candidate_ref, content_ref
from engine.run.settings import BuildSettings
from engine.run.smoke import smoke_test
from engine.state.hygiene import secret_args
from engine.state.report import NodeReport, RunReport
from graph.model.spec import Node

if TYPE_CHECKING:
    from engine.build.builder import Builder

log = structlog.get_logger()


class NodeRunner:
    """The scheduler's work function: one buildx call per node, then its smoke tests."""

    def __init__(self, root: Path, planned: Planned, builder: Builder, report: RunReport,
                 registry: Registry, settings: BuildSettings, provenance: Provenance) -> None:
        self.root, self.planned, self.builder, self.report = root, planned, builder, report
        self.registry, self.settings, self.provenance = registry, settings, provenance
        self.route: Callable[[str], str] = lambda ref: ref  # through the retry proxy, for repeated builds
        self.local_parents: dict[str, str] = {}  # --load: external base → its unique local tag
        self.proxied: tuple[str, ...] = ()  # (registry host, proxy host) while the proxy routes
        self.through_proxy: set[str] = set()  # nodes built again through it after a registry fault
        self.lock = threading.Lock()
        self.stop = threading.Event()  # the run's interrupt: no build starts once it is set
        self.invocations = 0
        self.fault_repeats = 0  # invocations that repeated a build after a registry or network fault
        self.layers = LayerReader(registry)  # pushed images' layers, read once per run
        self.early = EarlyParents()  # children start on a pushed parent once the scheduler is told
        self.parents = ParentDigests(planned, registry, self.early, self.lock)
        self.digests = self.parents.known  # node → the digest it was built at (or found at)
        self.tag_content: Callable[[Node, str], None] = self._tag_in_registry  # once checked and tested

    def run(self, name: str) -> None:
        """Build, push and test one node; raise on failure (never retried). Its children may start
        once its image is pushed (engine.run.early)."""
        self.early.started(name)
        digest = ""
        try:
            digest = self._run(name)
        finally:
            self.early.settled(name, digest)

    def _run(self, name: str) -> str:
        """run's work; the digest it pushed."""
        structlog.contextvars.bind_contextvars(node=name)  # contextvars do not cross threads
        node = self.planned.graph.nodes[name]
        node_report = self.report.nodes[name]
        log_path = Path(self.report.folder) / "logs" / f"{name}.log"
        node_report.log = str(log_path)
        node_report.status = "running"
        try:
            request = self.request_for(node)
            for arg in secret_args(node.args):
                log.warning("secret_build_arg", node=name, arg=arg,
                            hint="its value is *** in logs, but a secret belongs in `secrets:` (buildx "
                                 "--secret): build args are kept in the image's provenance")
            log.info("node_started", platforms=len(node.platforms), ref=request.tags[0])
            request, result = self._built(node, request, log_path, node_report)
            result = pushchecks.checked_and_named(self, node, request, result, log_path, node_report)
            node_report.digest, node_report.duration_s = result.digest, round(result.duration_s, 2)
            node_report.platform_durations = buildlog.platform_durations(
                buildlog.parse_steps(log_path.read_text(encoding="utf-8", errors="replace")))
            if self.settings.test:
                smoke_test(self.builder, self.planned.graph, node, result.digest, node_report)
            self.tag_content(node, result.digest)
        except Exception as exc:  # an EngineError, or anything a library raised: the node failed
            node_report.error, node_report.status = str(exc), "failed"
            log.error("node_failed", error=str(exc), log=str(log_path),
                      log_tail=getattr(exc, "log_tail", None) or getattr(exc, "output", None))
            raise
        finally:
            structlog.contextvars.unbind_contextvars("node")
        with self.lock:
            self.digests[name] = result.digest
        node_report.status = "succeeded"
        log.info("node_built", node=name, digest=result.digest, duration_s=node_report.duration_s)
        return result.digest

    def _built(self, node: Node, request: BuildRequest, log_path: Path,
               node_report: NodeReport) -> tuple[BuildRequest, BuildResult]:
        """The request and result of node's build; built again when the parent it was built on early
        ended on another digest."""
        try:
            return request, self.build_with_retries(request, log_path, node_report, node)
        except ParentChanged as changed:
            log.warning("parent_changed_rebuild", node=node.name, error=str(changed))
            if not self.stop.is_set():  # else the build below does not run
                # the parent ended on another digest because it was built again through the retry proxy
                # after a registry fault: this repeat is the fault's too
                with self.lock:
                    fault = node.parent in self.through_proxy
                self.count_retry(node_report, fault=fault)
            request = self.request_for(node)
            return request, self.build_with_retries(request, log_path, node_report, node)

    def build_with_retries(self, request: BuildRequest, log_path: Path, node_report: NodeReport,
                           node: Node) -> BuildResult:
        """One buildx call, repeated only when it failed on a registry or network fault.

        The first call talks to the registry straight (its attestations name the registry); a repeat
        goes through the retry proxy, when the run has one, and its attestations are renamed after."""
        calls = 0

        def once(chosen: BuildRequest) -> BuildResult:
            nonlocal calls
            calls += 1
            if calls > 1 and (routed := self._routed(chosen)) != chosen:
                with self.lock:
                    self.through_proxy.add(node.name)
                chosen = routed
            return self._build_once(chosen, log_path, node)

        def retried(state: RetryCallState, reason: str) -> None:
            self.count_retry(node_report, fault=True)
            log.warning("build_retried", node=request.node, attempt=state.attempt_number, reason=reason)

        return fault_retry(once, self.stop, retried)(request)

    def count_retry(self, node_report: NodeReport, fault: bool = False) -> None:
        """One more build of node_report's node (fault: after a registry or network fault); the platforms
        of one node count theirs from several threads."""
        with self.lock:
            node_report.retries += 1
            self.fault_repeats += fault

    def _routed(self, request: BuildRequest) -> BuildRequest:
        """request with every registry reference (pushes, parent, cache, SBOM generator) through the
        retry proxy."""
        route = self.route
        return replace(request, tags=tuple(route(tag) for tag in request.tags), output=route(request.output),
                       build_contexts=tuple((name, route(value)) for name, value in request.build_contexts),
                       cache_from=route(request.cache_from), cache_to=route(request.cache_to),
                       sbom_generator=route(request.sbom_generator))

    def on_its_parent(self, node: Node, request: BuildRequest, result: BuildResult, log_path: Path,
                      node_report: NodeReport, platform: str = "", parent_digest: str = "") -> BuildResult:
        """The pushed child on its parent's layers, built once more if not (engine.run.pushchecks)."""
        return pushchecks.on_its_parent(self, node, request, result, log_path, node_report, platform,
                                        parent_digest)

    def named_for_the_registry(self, node: Node, digest: str) -> str:
        """The pushed index with its attestations naming the real registry (engine.run.pushchecks)."""
        return pushchecks.named_for_the_registry(self, node, digest)

    def prefix_problems(self, node: Node, parent: Node, digest: str, platform: str = "",
                        parent_digest: str = "") -> list[PrefixMismatch]:
        """Where node's pushed image does not start with its parent's layers (engine.run.pushchecks)."""
        return pushchecks.prefix_problems(self, node, parent, digest, platform, parent_digest)

    def _build_once(self, request: BuildRequest, log_path: Path, node: Node) -> BuildResult:
        """One buildx call of node; a build that failed only to export its cache, after its push, is kept."""
        if self.stop.is_set():  # a repeat, or a rebuild, after Ctrl-C: the interrupt stopped it for good
            raise EngineError(f"node {node.name}: interrupted", "nothing to do: the next run builds it")
        with self.lock:
            self.invocations += 1
        started = time.monotonic()
        try:
            gate = self.early.gate(node.name, node.parent or "", request)
            return self.builder.build(request, log_path, gate)
        except BuildError as exc:
            # the image is pushed before the layer cache is exported: a cache-only failure is a warning
            text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
            digest = self.registry.digest(candidate_ref(node, self.planned.fingerprints[node.name])) \
                if buildlog.only_cache_export_failed(text) else None
            if not digest:
                if self.settings.secrets.withhold and node.secrets and type(exc) is BuildError:
                    raise _withheld(exc, node) from exc
                raise
            log.warning("cache_export_failed", node=node.name, error=str(exc))
            return BuildResult(node.name, digest, time.monotonic() - started, str(log_path))

    def _tag_in_registry(self, node: Node, digest: str) -> None:
        """Give node's pushed image (digest) its content tag: it passed its checks and smoke tests."""
        if node.name in self.planned.borrowed:  # no later run may take it for a build of its fingerprint
            log.info("content_tag_withheld", node=node.name, digest=digest,
                     reason="built on a build its parent had with the secrets this run withholds")
            return
        fingerprint = self.planned.fingerprints[node.name]
        self.registry.tag(f"{node.repository}@{digest}", content_ref(node, fingerprint))

    def request_for(self, node: Node, parent_digest: str | None = None, platform: str = "") -> BuildRequest:
        """The buildx request of node as this run builds it (engine.run.noderequest)."""
        return node_request(self, node, parent_digest, platform)



def _withheld(exc: BuildError, node: Node) -> BuildError:
    """The failed build's error, saying the run passed none of the secrets its node declares."""
    ids = ", ".join(secret.id for secret in node.secrets)
    return BuildError(exc.node, exc.command, exc.exit_code_of_build, exc.log_tail, exc.log_path,
                      f"this run passed no secrets (--no-secrets), and the node declares {ids}: a step that "
                      f"needs one fails without it; else {exc.hint}")
