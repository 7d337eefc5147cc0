"""Stacks plus what the registry and history say → a build plan (the engine side of graph.plan.changes)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.parallel import side_by_side
from engine.registry.bases import resolve_bases
from engine.registry.client import Registry
from engine.run.prchanges import pr_changes
from engine.state.history import History
from graph.change.affected import affected
from graph.change.fingerprint import Fingerprint, fingerprint_graph, with_secrets
from graph.context.files import DigestMemo
from graph.expand.dag import StackGraph, closure
from graph.model.spec import Node
from graph.plan.changes import Observed, decide
from graph.plan.entries import BUILD, EXTERNAL, PlanEntry

CANDIDATE_SUFFIX = "-candidate"  # sb-<fingerprint>-candidate: pushed, not yet checked and tested
NEEDED_BY_CHANGE = "needed_by_change"  # PR mode: outside the change, but what it builds on has no image


@dataclass(frozen=True)
class Planned:
    """A plan with everything it was made from."""

    graph: StackGraph
    fingerprints: dict[str, Fingerprint]
    entries: tuple[PlanEntry, ...]
    touched: dict[str, str]  # PR mode: nodes the change touches directly, and why
    support: Mapping[str, str] = field(default_factory=dict)  # PR mode: untouched parents' digests
    needed: frozenset[str] = frozenset()  # PR mode: untouched nodes built as those built rest on them
    borrowed: frozenset[str] = frozenset()  # --no-secrets PR: built on a build made with the secrets

    def entry(self, name: str) -> PlanEntry:
        """The plan entry of one node."""
        return next(entry for entry in self.entries if entry.node == name)


def content_ref(node: Node, fingerprint: Fingerprint) -> str:
    """The immutable reference of this fingerprint's image once it passed its checks and smoke tests:
    what later runs and other runners reuse."""
    return f"{node.repository}:{fingerprint.content_tag}"


def candidate_tag(fingerprint: Fingerprint) -> str:
    """The tag a build of this fingerprint is pushed under before its checks and smoke tests."""
    return fingerprint.content_tag + CANDIDATE_SUFFIX


def candidate_ref(node: Node, fingerprint: Fingerprint) -> str:
    """Where a build of this fingerprint is pushed first (no run reuses it: an image whose smoke test
    failed, or whose run was interrupted before its tests, is built and tested again)."""
    return f"{node.repository}:{candidate_tag(fingerprint)}"


def plan_build(stack_graph: StackGraph, root: Path, registry: Registry | None, history: History | None,
               full: bool = False, changed_since: str = "", targets: tuple[Path, ...] = (),
               memo: DigestMemo | None = None, withheld: bool = False,
               shard: Collection[str] = (), vouch: bool = True) -> Planned:
    """Fingerprint every node, find what a PR touches, ask the registry what exists, decide.

    Without a registry (offline) nothing is looked up: every candidate is planned as a build, and
    external bases count by the digest the last run recorded (by their reference when none did).
    memo: context files' digests from an earlier run (graph.context.files.DigestMemo). withheld: the
    run passes no secret (--no-secrets): a node declaring some, and what is built on it, get other
    fingerprints, so neither reuses nor is reused by a run that passes them. shard: a CI shard's --only
    nodes; in PR mode each is a candidate, outside the change one the change needs (its job was emitted
    from the PR's plan); full forces them only (what they are built on is found as without full).
    vouch: history may vouch for a content tag (its build is where the human tag is): one HEAD less a
    node; not after --full shards, which move content tags and leave human tags to publish.
    """
    if full and shard:
        return _force(plan_build(stack_graph, root, registry, history, False, changed_since, targets, memo,
                                 withheld, shard, vouch=False), set(shard))
    fingerprints = fingerprint_graph(stack_graph, root, base_digests(stack_graph, registry, history), memo,
                                     withheld)
    touched: dict[str, str] = {}
    candidates = None
    shard_needed: set[str] = set()
    if changed_since:
        touched = pr_changes(stack_graph, root, changed_since, targets)
        candidates = affected(stack_graph, touched)
        shard_needed = set(shard) - candidates
        candidates |= shard_needed
    observed = None if registry is None else {} if full else observe(
        stack_graph, fingerprints, registry, history, candidates, vouch)
    support = Support()
    if observed and registry is not None and candidates is not None:
        support = untouched_parents(stack_graph, fingerprints, registry, history, observed, candidates)
        observed.update(support.observed)
        candidates |= support.needed
    if observed is not None:
        observed.update(base_history(stack_graph, history))
    needed = support.needed | shard_needed
    borrowed = frozenset(closure(support.borrowed, stack_graph.descendants) - support.borrowed)
    entries = _pr_reasons(decide(stack_graph, fingerprints, observed, full, candidates), touched, candidates,
                          needed)
    entries = tuple(replace(entry, borrowed=entry.action == BUILD) if entry.node in borrowed else entry
                    for entry in entries)
    return Planned(stack_graph, fingerprints, entries, touched, support.digests, frozenset(needed), borrowed)


def _force(planned: Planned, names: set[str]) -> Planned:
    """planned with the entries of names built whatever the registry holds (a --full shard); an external
    base among them is used as it is."""
    entries = tuple(replace(entry, action=BUILD, reason="forced", digest="")
                    if entry.node in names and entry.action != EXTERNAL else entry
                    for entry in planned.entries)
    return replace(planned, entries=entries)


def base_digests(stack_graph: StackGraph, registry: Registry | None,
                 history: History | None) -> dict[str, str]:
    """Each external base reference → its digest: asked once per run, or offline the last one recorded."""
    externals = {node.external: name for name, node in stack_graph.nodes.items() if node.external}
    if registry is not None:
        return resolve_bases(externals, registry)
    recorded = {reference: _recorded_base(history, name) for reference, name in externals.items()}
    return {reference: digest for reference, digest in recorded.items() if digest}


def base_history(stack_graph: StackGraph, history: History | None) -> dict[str, Observed]:
    """What the last run recorded for each external base (its digest among its inputs)."""
    records = {name: history.last_success(name) if history else None
               for name, node in stack_graph.nodes.items() if node.external}
    return {name: Observed(previous_inputs=record.inputs) for name, record in records.items() if record}


def _recorded_base(history: History | None, name: str) -> str:
    record = history.last_success(name) if history else None
    return record.inputs.get("base", "") if record else ""


def observe(stack_graph: StackGraph, fingerprints: Mapping[str, Fingerprint], registry: Registry,
            history: History | None, candidates: set[str] | None, vouch: bool = True) -> dict[str, Observed]:
    """Registry and history facts per node: one HEAD when history vouches for the tag (and may), else two."""
    names = [name for name in stack_graph.order
             if not stack_graph.nodes[name].external and (candidates is None or name in candidates)]

    def look(name: str) -> Observed:
        node, fingerprint = stack_graph.nodes[name], fingerprints[name]
        tag_digest = registry.digest(node.ref)
        known = history.digest_for(name, fingerprint.value) if history and vouch else ""
        content = known if known and known == tag_digest else registry.digest(content_ref(node, fingerprint))
        previous = history.last_success(name) if history and not content else None
        return Observed(content, tag_digest, previous.inputs if previous else None)

    return dict(zip(names, side_by_side(look, names), strict=True))


@dataclass(frozen=True)
class Support:
    """PR mode: what the change's builds rest on outside the change."""

    digests: dict[str, str] = field(default_factory=dict)  # untouched parent → the digest built on
    needed: set[str] = field(default_factory=set)  # untouched nodes with no image of their inputs: built
    observed: dict[str, Observed] = field(default_factory=dict)  # what history says of the needed ones
    borrowed: set[str] = field(default_factory=set)  # found only as a build made with the secrets


def untouched_parents(stack_graph: StackGraph, fingerprints: Mapping[str, Fingerprint], registry: Registry,
                      history: History | None, observed: Mapping[str, Observed],
                      candidates: set[str]) -> Support:
    """PR mode: the nodes outside the change that the candidates to build (no image for their content in
    observed) are built on, each looked up by the content tag of its current inputs (never its human tag:
    it may name an older build than the one the child's fingerprint rests on); those with no such image
    are built too, and so on down."""
    support = Support()
    building = {name for name, seen in observed.items() if name in candidates and not seen.content_digest}
    wanted = _parents_outside(stack_graph, building, candidates)
    while wanted:
        seen = _observe_content(stack_graph, fingerprints, registry, history, wanted)
        trusted = _trusted_content(stack_graph, fingerprints, registry, seen)
        support.digests.update({name: looked.content_digest for name, looked in seen.items()
                                if looked.content_digest})
        support.digests.update(trusted)
        support.borrowed.update(trusted)
        missing = {name for name in seen if name not in support.digests}
        support.needed.update(missing)
        support.observed.update({name: seen[name] for name in missing})
        wanted = _parents_outside(stack_graph, missing, candidates | support.needed | set(support.digests))
    return support


def _observe_content(stack_graph: StackGraph, fingerprints: Mapping[str, Fingerprint], registry: Registry,
                     history: History | None, names: set[str]) -> dict[str, Observed]:
    """One HEAD per node, of its content tag (its human tag does not matter to a node only built on)."""
    def look(name: str) -> Observed:
        content = registry.digest(content_ref(stack_graph.nodes[name], fingerprints[name]))
        previous = history.last_success(name) if history and not content else None
        return Observed(content, None, previous.inputs if previous else None)

    ordered = sorted(names)
    return dict(zip(ordered, side_by_side(look, ordered), strict=True))


def _parents_outside(stack_graph: StackGraph, names: set[str], known: set[str]) -> set[str]:
    """The parents of names built by this graph (not external bases) that are not in known."""
    parents = {stack_graph.nodes[name].parent for name in names}
    return {parent for parent in parents
            if parent and parent not in known and not stack_graph.nodes[parent].external}


def _trusted_content(stack_graph: StackGraph, fingerprints: Mapping[str, Fingerprint], registry: Registry,
                     seen: Mapping[str, Observed]) -> dict[str, str]:
    """For the nodes of seen with no image under this run's content tag because it withholds a secret
    (--no-secrets): the digest under the content tag a run passing the secrets gives the same inputs,
    the build main published for them."""
    missing = [name for name, observed in seen.items() if not observed.content_digest]
    trusted = with_secrets(stack_graph, fingerprints) if missing else {}
    refs = {name: content_ref(stack_graph.nodes[name], trusted[name]) for name in missing
            if trusted[name].value != fingerprints[name].value}
    digests = side_by_side(registry.digest, list(refs.values()))
    return {name: digest for name, digest in zip(refs, digests, strict=True) if digest}


def _pr_reasons(entries: tuple[PlanEntry, ...], touched: Mapping[str, str], candidates: set[str] | None,
                needed: set[str]) -> tuple[PlanEntry, ...]:
    """In PR mode a build's reason is what the change touched, the parent it rebuilds on, or, for a node
    outside the change with no image of its current inputs, that the change needs it."""
    if candidates is None:
        return entries
    result = []
    for entry in entries:
        if entry.action == BUILD and entry.node in needed:  # before parent_rebuilt: it is outside the change
            entry = replace(entry, reason=f"{NEEDED_BY_CHANGE}: {entry.reason}")
        elif entry.action == BUILD and entry.node in touched:
            entry = replace(entry, reason=touched[entry.node])
        elif entry.action == BUILD and entry.parent in candidates:
            entry = replace(entry, reason=f"parent_rebuilt: {entry.parent}")
        result.append(entry)
    return tuple(result)
