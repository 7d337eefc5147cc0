"""Orchestration without argv: load stacks, plan, build, promote, report."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from engine.build.builder import EngineCheck, PoolBuilderOps
from engine.build.poolscheduler import PoolScheduler
from engine.build.request import Provenance
from engine.build.scheduler import Outcome, Scheduler
from engine.console import logs
from engine.registry.client import Registry, RegistryClient
from engine.run import outcomes, publishing
from engine.run.parents import built_generator
from engine.run.planner import Planned, plan_build
from engine.run.platforms import PlatformRunner
from engine.run.proxyroute import retry_proxy
from engine.run.publishgate import publish_checked
from engine.run.publishing import open_history
from engine.run.runchecks import check_pool, check_shard, pool_names
from engine.run.runner import NodeRunner
from engine.run.settings import BuildSettings
from engine.state import gitinfo
from engine.state.digestmemo import load_memo, save_memo
from engine.state.folder import run_lock
from engine.state.history import History
from engine.state.report import RunReport
from graph.change.credentials import NamedCredential, check_named_credentials
from graph.change.fingerprint import check_contexts
from graph.expand.assemble import load_graph
from graph.expand.dag import StackGraph, with_registry
from graph.expand.selection import narrow_platforms, restrict, restrict_to
from graph.load.limits import DEFAULT_MAX_NODES, WARN_NODES, Limits
from graph.model.secrets import SecretPolicy, check_secrets
from graph.model.spec import Node
from graph.plan.entries import BUILD, PlanEntry, make_plan

if TYPE_CHECKING:
    from engine.build.builder import Builder

log = structlog.get_logger()


@dataclass(frozen=True)
class Options:
    """What a command works on."""

    root: Path
    targets: tuple[Path, ...] = (Path("stacks"),)
    registry: str = ""  # overrides every stack's registry prefix when set
    state_dir: Path = Path(".state")
    select: tuple[str, ...] = ()  # name or tag globs: only these and what they are built on
    platforms: tuple[str, ...] = ()  # build for these platforms only (each node keeps those it has)
    max_nodes: int = DEFAULT_MAX_NODES  # loading refuses stacks that expand to more nodes
    only: tuple[str, ...] = ()  # a CI shard: build exactly these nodes, promote nothing
    credentials: tuple[NamedCredential, ...] = ()  # what DOCKER_CONFIG, KUBECONFIG, ... name: never sent

    @property
    def state(self) -> Path:
        """The state folder, absolute."""
        return self.state_dir if self.state_dir.is_absolute() else self.root / self.state_dir


def load(options: Options) -> StackGraph:
    """The checked DAG of the targeted stacks, narrowed to the selection and platforms asked for,
    pushed below options.registry if given."""
    stack_graph = load_graph(options.root, options.targets, Limits(max_nodes=options.max_nodes))
    if len(stack_graph.nodes) > WARN_NODES:
        log.warning("large_graph", node="*", nodes=len(stack_graph.nodes), warn_above=WARN_NODES,
                    max_nodes=options.max_nodes)
    if options.select:
        stack_graph = restrict(stack_graph, options.select)
    if options.only:
        stack_graph = restrict_to(stack_graph, options.only)
    if options.platforms:
        stack_graph = narrow_platforms(stack_graph, options.platforms)
    return with_registry(stack_graph, options.registry) if options.registry else stack_graph


def load_to_send(options: Options) -> StackGraph:
    """load, refused (StackError at the node's line) when a context would send a credential file the
    environment names: for the commands that read the contexts (a build sends them)."""
    stack_graph = load(options)
    check_named_credentials(stack_graph.nodes.values(), options.root, options.credentials)
    return stack_graph


def load_to_build(options: Options, policy: SecretPolicy) -> StackGraph:
    """load_to_send, refused (StackError at the secret's line) when a build would read a host file the
    operator did not allow."""
    stack_graph = load_to_send(options)
    check_run_secrets(stack_graph.nodes.values(), options.root, policy)
    return stack_graph


def check_run_secrets(nodes: Iterable[Node], root: Path, policy: SecretPolicy) -> None:
    """Refuse a secret file the policy does not allow, before any build; say once what is withheld."""
    built = [node for node in nodes if not node.external]
    check_secrets(built, root, policy)
    withheld = sorted({secret.id for node in built for secret in node.secrets}) if policy.withhold else []
    if withheld:
        log.warning("secrets_withheld", node="*", secrets=",".join(withheld),
                    hint="--no-secrets: no build gets a stack secret; a step that needs one fails")


def plan(options: Options, registry: Registry | None = None, full: bool = False,
         changed_since: str = "", secrets: SecretPolicy | None = None) -> tuple[PlanEntry, ...]:
    """The dry-run plan; without a registry client every node is planned as a build (no network).
    Refused as build refuses: a context that would send what no build may, and with secrets (the run's
    policy) a secret file or variable it does not allow; None plans a run passing them, unchecked."""
    stack_graph = load_to_send(options)
    built = [node for node in stack_graph.nodes.values() if not node.external]
    if secrets is not None:
        check_secrets(built, options.root, secrets)
    if registry is None and not changed_since:  # nothing fingerprinted: the contexts are listed anyway
        check_contexts(built, options.root, load_memo(options.state))
        return make_plan(stack_graph, reason="forced" if full else "not_checked")
    history = open_history(options)
    try:
        return plan_build(stack_graph, options.root, registry, history, full, changed_since, options.targets,
                          load_memo(options.state) if history else None,
                          secrets is not None and secrets.withhold, options.only).entries
    finally:
        if history:
            history.close()


DEFAULT_SETTINGS = BuildSettings()


def build(options: Options, builder: Builder, settings: BuildSettings = DEFAULT_SETTINGS,
          registry: Registry | None = None) -> RunReport:
    """Build what changed after its parents, test it, then publish every human tag at once."""
    registry = registry or RegistryClient()
    with run_lock(options.state):
        history = History(options.state / "history.db")
        try:
            return _run(options, builder, settings, registry, history)
        finally:
            history.close()


def _run(options: Options, builder: Builder, settings: BuildSettings, registry: Registry,
         history: History) -> RunReport:
    requests_before = Counter(registry.requests)
    memo = load_memo(options.state)
    planned = plan_build(load_to_build(options, settings.secrets), options.root, registry, history,
                         settings.full, settings.changed_since, options.targets, memo,
                         withheld=settings.secrets.withhold, shard=options.only)
    save_memo(options.state, memo)
    check_shard(options, planned)
    if isinstance(builder, EngineCheck) and any(entry.action == BUILD for entry in planned.entries):
        builder.check()  # the engine is asked only when something is to be built (a no-op needs none)
    report = outcomes.new_report(options.state, planned, settings)
    with logs.json_log(Path(report.folder) / "log.jsonl"):
        _execute(options, builder, settings, registry, history, planned, report)
        report.registry_requests = dict(Counter(registry.requests) - requests_before)  # this run's only
        report.write()
        log.info("run_finished", node="*", run=report.run_id, report=str(Path(report.folder) / "report.json"),
                 status=report.status, built=report.buildx_invocations, promoted=len(report.promoted))
    return report


def _execute(options: Options, builder: Builder, settings: BuildSettings, registry: Registry,
             history: History, planned: Planned, report: RunReport) -> None:
    """Schedule the builds, then publish (all succeeded) or not, and record the outcome."""
    to_build = [entry.node for entry in planned.entries if entry.action == BUILD]
    check_pool(planned, settings.pool, to_build, builder)
    history.start_run(report.run_id, report.started, report.mode)
    # git is asked only when a build will carry the source in its labels (three processes otherwise)
    provenance = source_provenance(options.root, report.started) if to_build else Provenance()
    runner = NodeRunner(options.root, planned, builder, report, registry, settings, provenance)
    weight = outcomes.weights(history, planned)
    log.info("run_started", node="*", run=report.run_id, mode=report.mode, nodes=len(planned.entries),
             to_build=sum(1 for e in planned.entries if e.action == BUILD), jobs=settings.jobs,
             **({"builders": pool_names(settings.pool)} if settings.pool else {}))
    outcomes.build_and_publish(history, report, planned, runner,
                               partial(_schedule, planned, runner, builder, to_build, weight),
                               partial(publish_checked, options, planned, runner, registry, history, report),
                               retry_proxy(planned, runner))


def source_provenance(root: Path, fallback_time: str) -> Provenance:
    """Public source, revision and the commit's time (image `created`, SOURCE_DATE_EPOCH); outside git
    the run's time, and no epoch."""
    epoch = gitinfo.commit_time(root)
    created = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch is not None \
        else fallback_time
    return Provenance(gitinfo.source(root), gitinfo.revision(root), created, epoch)


def _schedule(planned: Planned, runner: NodeRunner, builder: Builder, to_build: list[str],
              weight: Callable[[str], float], stop: threading.Event) -> dict[str, Outcome]:
    """Build every node to build: whole, `jobs` at a time; or per platform over a pool of builders."""
    settings = runner.settings
    if settings.pool is None or not settings.pool.is_multi or not isinstance(builder, PoolBuilderOps):
        scheduler = Scheduler(planned.graph.graph, settings.jobs, settings.keep_going, weight, stop)
        runner.early.release = scheduler.release  # children start on a pushed parent (engine.run.early)
        return scheduler.run(to_build, runner.run)
    nodes = planned.graph.nodes
    platforms = PlatformRunner(runner, builder)
    pool_scheduler = PoolScheduler(planned.graph.graph, settings.pool, lambda name: nodes[name].platforms,
                                   settings.keep_going, weight, stop,
                                   merged_first=lambda name: _generator_of(planned, name))
    return pool_scheduler.run(to_build, platforms.build, platforms.merge)


def _generator_of(planned: Planned, name: str) -> tuple[str, ...]:
    """The SBOM generator of node name when the run builds it: its merged index is what buildx is given."""
    generator = built_generator(planned, planned.graph.nodes[name])
    return (generator.name,) if generator else ()


def publish(options: Options, registry: Registry | None = None, adopt: bool = False,
            withheld: bool = False, changed_since: str = "") -> list[str]:
    """After CI shards: move every planned node's human tag to its content tag (engine.run.publishing);
    withheld: the shards ran with --no-secrets; changed_since: they were a PR's (only its nodes move)."""
    return publishing.publish(options, load_to_send(options), registry, adopt, withheld, changed_since)
