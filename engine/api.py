"""Orchestration without argv: load stacks, plan, build, report."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from engine.buildx_args import build_request
from engine.errors import EngineError, RegistryError
from engine.registry import RegistryClient
from engine.report import NodeReport, RunReport, finish, new_run
from engine.scheduler import FAILED, SUCCEEDED, Scheduler
from graph.dag import StackGraph, with_registry
from graph.load import load_graph
from graph.plan import PlanEntry, make_plan
from graph.spec import Node

if TYPE_CHECKING:
    from engine.builder import Builder

log = structlog.get_logger()


@dataclass(frozen=True)
class Options:
    """What a command works on."""

    root: Path
    targets: tuple[Path, ...] = (Path("stacks"),)
    registry: str = ""  # overrides every stack's registry prefix when set
    state_dir: Path = Path(".state")


def load(options: Options) -> StackGraph:
    """The checked DAG of the targeted stacks, pushed below options.registry if given."""
    stack_graph = load_graph(options.root, options.targets)
    return with_registry(stack_graph, options.registry) if options.registry else stack_graph


def plan(options: Options) -> tuple[PlanEntry, ...]:
    """The dry-run plan: every node in build order; touches no Docker."""
    return make_plan(load(options))


def build(options: Options, builder: Builder, jobs: int = 1, keep_going: bool = False,
          registry: RegistryClient | None = None) -> RunReport:
    """Build, push and smoke-test every node after its parents; write the run report."""
    stack_graph = load(options)
    entries = make_plan(stack_graph)
    report = new_run(options.state_dir if options.state_dir.is_absolute()
                     else options.root / options.state_dir)
    for entry in entries:
        report.nodes[entry.node] = NodeReport(entry.node, entry.ref, entry.action, entry.reason)
    report.write()
    runner = _NodeRunner(options.root, stack_graph, builder, report, registry or RegistryClient())
    log.info("run_started", node="*", run=report.run_id, nodes=len(entries), jobs=jobs)
    outcomes = Scheduler(stack_graph.graph, jobs, keep_going).run(
        [entry.node for entry in entries], runner.run)
    for name, outcome in outcomes.items():
        node_report = report.nodes[name]
        node_report.status = outcome.status
        if outcome.status != SUCCEEDED:
            node_report.error = outcome.reason
    ok = all(outcome.status == SUCCEEDED for outcome in outcomes.values())
    path = finish(report, "succeeded" if ok else "failed")
    log.info("run_finished", node="*", run=report.run_id, report=str(path),
             built=report.count(SUCCEEDED), failed=report.count(FAILED),
             not_built=len(outcomes) - report.count(SUCCEEDED) - report.count(FAILED))
    return report


class _NodeRunner:
    """Builds one node in a worker thread: parent digest in, pushed digest out."""

    def __init__(self, root: Path, stack_graph: StackGraph, builder: Builder, report: RunReport,
                 registry: RegistryClient) -> None:
        self.root, self.graph, self.builder = root, stack_graph, builder
        self.report, self.registry = report, registry
        self.digests: dict[str, str] = {}
        self.lock = threading.Lock()

    def run(self, name: str) -> None:
        """Build, push and test one node; raise on failure."""
        node = self.graph.nodes[name]
        bound = log.bind(node=name)  # contextvars do not cross threads: bind in the worker
        node_report = self.report.nodes[name]
        parent = self.graph.nodes[node.parent] if node.parent else None
        request = build_request(node, self.root, parent, self._digest_of(parent))
        log_path = Path(self.report.folder) / "logs" / f"{name}.log"
        node_report.log = str(log_path)
        bound.info("node_started", platforms=len(node.platforms), ref=node.ref)
        try:
            result = self.builder.build(request, log_path)
            node_report.digest, node_report.duration_s = result.digest, round(result.duration_s, 2)
            self._smoke_test(node, result.digest, node_report)
        except EngineError as exc:
            node_report.error = str(exc)
            bound.error("node_failed", error=str(exc), log=str(log_path),
                        log_tail=getattr(exc, "log_tail", None) or getattr(exc, "output", None))
            raise
        with self.lock:
            self.digests[name] = result.digest
        bound.info("node_built", digest=result.digest, duration_s=node_report.duration_s)

    def _smoke_test(self, node: Node, digest: str, node_report: NodeReport) -> None:
        for platform in node.platforms if node.test else ():
            node_report.tests[platform] = "failed"
            output = self.builder.smoke_test(node.name, f"{node.repository}@{digest}", platform,
                                             node.test)
            node_report.tests[platform] = "passed"
            log.info("node_tested", node=node.name, platform=platform,
                     output=output.strip()[-200:])

    def _digest_of(self, parent: Node | None) -> str:
        """The parent's digest: built in this run, or already in the registry."""
        if parent is None:
            return ""
        with self.lock:
            if parent.name in self.digests:
                return self.digests[parent.name]
        manifest = self.registry.manifest(parent.ref)
        if manifest is None:
            raise RegistryError(f"parent {parent.ref} is not in the registry",
                                f"build {parent.name} first")
        return manifest.digest


def run_targets(paths: Sequence[str]) -> tuple[Path, ...]:
    """CLI target strings as paths (default: the stacks folder)."""
    return tuple(Path(p) for p in paths) or (Path("stacks"),)
