"""Builds one node in a worker thread: parent digest in, content tag pushed and tested, digest out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import structlog
from tenacity import RetryCallState

from engine.build import buildlog
from engine.build.builder import BuildResult
from engine.build.request import PARENT_CONTEXT, BuildRequest, Provenance, build_request, cache_flags
from engine.errors import BuildError, EngineError
from engine.registry.attestations import AttestationStore, rename_attestations
from engine.registry.client import Registry
from engine.run.early import EarlyParents, ParentChanged
from engine.run.faults import fault_retry
from engine.run.layers import LayerPrefixError, LayerReader, PrefixMismatch, check_layer_prefixes
from engine.run.parents import ParentDigests
from engine.run.planner import Planned, candidate_ref, candidate_tag, content_ref
from engine.run.settings import BuildSettings
from engine.run.smoke import smoke_test
from engine.state.hygiene import secret_args
from engine.state.report import NodeReport, RunReport
from graph.model.secrets import passed_secrets
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
            result = self._checked_and_named(node, request, result, log_path, node_report)
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
            self._count_retry(node_report, fault=True)
            log.warning("build_retried", node=request.node, attempt=state.attempt_number, reason=reason)

        return fault_retry(once, self.stop, retried)(request)

    def _count_retry(self, node_report: NodeReport, fault: bool = False) -> None:
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

    def _checked_and_named(self, node: Node, request: BuildRequest, result: BuildResult, log_path: Path,
                           node_report: NodeReport) -> BuildResult:
        """The layer-prefix check, and for a node built through the retry proxy the attestation renaming
        of the pushed index side by side (each a few registry round trips while the node holds a job);
        a rebuild after a failed check is renamed."""
        if not self._renamed_after_push(node):
            return self.on_its_parent(node, request, result, log_path, node_report)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rename") as pool:
            naming = pool.submit(self.named_for_the_registry, node, result.digest)
            checked = self.on_its_parent(node, request, result, log_path, node_report)
            named = naming.result()
        if checked.digest != result.digest:  # built once more without cache
            named = self.named_for_the_registry(node, checked.digest)
        self.layers.renamed(node.repository, checked.digest, named)
        return replace(checked, digest=named)

    def on_its_parent(self, node: Node, request: BuildRequest, result: BuildResult, log_path: Path,
                      node_report: NodeReport, platform: str = "", parent_digest: str = "") -> BuildResult:
        """The pushed child must rest on its parent's layers on every platform (on platform, over the
        parent image parent_digest, when given). BuildKit's cache can put it on another build of the
        same parent: then it is built once more without cache."""
        parent = self.planned.graph.nodes[node.parent] if node.parent else None
        if parent is None or parent.external or self.settings.load:  # --load: no registry to read
            return result
        problems = self.prefix_problems(node, parent, result.digest, platform, parent_digest)
        if not problems:
            return result
        log.warning("layer_prefix_rebuild", node=node.name, error=problems[0].message)
        self._count_retry(node_report)
        result = self.build_with_retries(replace(request, no_cache=True, cache_from=""), log_path,
                                         node_report, node)
        problems = self.prefix_problems(node, parent, result.digest, platform, parent_digest)
        if problems:
            raise LayerPrefixError("; ".join(problem.message for problem in problems),
                                   "the builder keeps reusing layers of another build of the parent: "
                                   "prune its build cache (docker builder prune) and build again")
        return result

    def _renamed_after_push(self, node: Node) -> bool:
        """Whether node's attestations name the retry proxy: it was built through it (a repeat after a
        registry fault) with a provenance, on a registry whose attestations can be rewritten."""
        if not self.proxied or node.provenance == "off" or not isinstance(self.registry, AttestationStore):
            return False
        with self.lock:
            return node.name in self.through_proxy

    def named_for_the_registry(self, node: Node, digest: str) -> str:
        """The pushed index with its attestations naming the real registry, not the retry proxy (which
        they name only when the node was built through it: a repeat after a registry fault)."""
        if not self._renamed_after_push(node):
            return digest
        fingerprint = self.planned.fingerprints[node.name]
        store = cast(AttestationStore, self.registry)  # _renamed_after_push checked it is one
        renamed = rename_attestations(store, node.repository, candidate_tag(fingerprint), digest,
                                      self.proxied[1], self.proxied[0])
        if renamed != digest:
            log.info("attestations_renamed", node=node.name, proxy=self.proxied[1], registry=self.proxied[0])
        return renamed

    def prefix_problems(self, node: Node, parent: Node, digest: str, platform: str = "",
                        parent_digest: str = "") -> list[PrefixMismatch]:
        """Where node's pushed image (digest) does not start with its parent's layers, per platform (on
        platform only, when given; over the parent image parent_digest, when given)."""
        if platform:
            node, parent = replace(node, platforms=(platform,)), replace(parent, platforms=(platform,))
        digests = {node.name: digest, parent.name: parent_digest or self.parents.of(parent)}
        return check_layer_prefixes([node], {node.name: parent}, digests, self.registry, self.layers)

    def _build_once(self, request: BuildRequest, log_path: Path, node: Node) -> BuildResult:
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
        fingerprint = self.planned.fingerprints[node.name]
        self.registry.tag(f"{node.repository}@{digest}", content_ref(node, fingerprint))

    def request_for(self, node: Node, parent_digest: str | None = None, platform: str = "") -> BuildRequest:
        """The buildx request of node as this run builds it (candidate tag, cache flags); of one
        platform of it when given, on its parent's digest when given."""
        parent = self.planned.graph.nodes[node.parent] if node.parent else None
        digest = self.parents.to_build_on(parent) if parent_digest is None else parent_digest
        secrets = passed_secrets(node, self.root, self.settings.secrets)
        request = build_request(replace(node, secrets=secrets), self.root, parent, digest, self.provenance)
        cache_from, cache_to = cache_flags(node, self.settings.cache, self.settings.cache_dir, platform,
                                           self.settings.secrets.withhold)
        fingerprint = self.planned.fingerprints[node.name]
        labels = (*request.labels, ("org.stackbuild.fingerprint", fingerprint.value))
        if self.settings.load:  # the engine's own build cache; the parent by its unique local tag
            contexts = request.build_contexts
            if parent is not None:  # (BuildKit resolves a local image by tag, a digest in a registry)
                local = self.local_parents.get(parent.name) or content_ref(parent, self.planned.fingerprints[
                    parent.name])
                contexts = ((PARENT_CONTEXT, f"docker-image://{local}"),)
            return replace(request, tags=(candidate_ref(node, fingerprint),), labels=tuple(sorted(labels)),
                           build_contexts=contexts, push=False, load=True, no_cache=self.settings.full)
        # nightly (--full): no cache import and fresh bases, but the cache is still exported
        return replace(request, tags=(candidate_ref(node, fingerprint),), labels=tuple(sorted(labels)),
                       cache_from="" if self.settings.full else cache_from, cache_to=cache_to,
                       no_cache=self.settings.full, pull=self.settings.full,
                       builder=self.settings.pool.only_builder if self.settings.pool else "",
                       sbom_generator=self.parents.sbom_generator(node))


def _withheld(exc: BuildError, node: Node) -> BuildError:
    """The failed build's error, saying the run passed none of the secrets its node declares."""
    ids = ", ".join(secret.id for secret in node.secrets)
    return BuildError(exc.node, exc.command, exc.exit_code_of_build, exc.log_tail, exc.log_path,
                      f"this run passed no secrets (--no-secrets), and the node declares {ids}: a step that "
                      f"needs one fails without it; else {exc.hint}")
