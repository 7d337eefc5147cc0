"""Change detection: from fingerprints and what the registry and history say, an action and a reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graph.change.fingerprint import Fingerprint, changed_inputs
from graph.expand.dag import StackGraph
from graph.plan.entries import BUILD, EXTERNAL, RETAG, SKIP, PlanEntry


@dataclass(frozen=True)
class Observed:
    """What is known about a node before building: registry digests and the last recorded inputs."""

    content_digest: str | None = None  # digest under the fingerprint's content tag; None: absent
    tag_digest: str | None = None  # digest the human tag points to; None: absent
    previous_inputs: Mapping[str, str] | None = None  # inputs of the last successful build, if any


def decide(stack_graph: StackGraph, fingerprints: Mapping[str, Fingerprint],
           observed: Mapping[str, Observed] | None, full: bool = False,
           candidates: set[str] | None = None) -> tuple[PlanEntry, ...]:
    """The plan: build what has no image for its fingerprint, retag what is built but not tagged.

    With observed None (offline: the registry was not asked) every candidate is a build, `not_checked`.
    """
    entries = []
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        fingerprint = fingerprints[name]
        seen = observed.get(name, Observed()) if observed is not None else None
        action, reason, digest = _action(name, fingerprint, seen, full, candidates, node.external,
                                         node.parent)
        entries.append(PlanEntry(name, node.stack, node.kind, node.ref, node.parent, node.platforms,
                                 action, reason, fingerprint.value, digest))
    return tuple(entries)


def _action(name: str, fingerprint: Fingerprint, seen: Observed | None, full: bool,
            candidates: set[str] | None, external: str, parent: str | None) -> tuple[str, str, str]:
    if external:
        return EXTERNAL, "base image", ""
    if full:
        return BUILD, "forced", ""
    if candidates is not None and name not in candidates:
        return SKIP, "unchanged_since_ref", ""
    if seen is None:
        return BUILD, "not_checked", ""
    if seen.content_digest:
        if seen.tag_digest == seen.content_digest:
            return SKIP, "up_to_date", seen.content_digest
        return RETAG, "tag_missing" if seen.tag_digest is None else "tag_elsewhere", seen.content_digest
    return BUILD, build_reason(fingerprint, seen.previous_inputs, parent), ""


def build_reason(fingerprint: Fingerprint, previous: Mapping[str, str] | None, parent: str | None) -> str:
    """Why a node needs a build: the first input that changed since its last build."""
    if previous is None:
        return "not_in_registry"
    changed = changed_inputs(previous, file_inputs(fingerprint))
    files = [key.removeprefix("file:") for key in changed if key.startswith("file:")]
    if "dockerfile" in changed:
        return "dockerfile_changed"
    if files:
        return f"context_changed: {', '.join(files[:3])}" + (" …" if len(files) > 3 else "")
    if "args" in changed:
        return "args_changed"
    if "spec" in changed:
        return "spec_changed"
    if "parent" in changed:
        return f"parent_rebuilt: {parent}" if parent else "base_changed"
    return "not_in_registry"


def file_inputs(fingerprint: Fingerprint) -> dict[str, str]:
    """The fingerprint's inputs with one entry per context file, as history records them."""
    return {**fingerprint.inputs, **{f"file:{f.path}": f"{f.mode:o}:{f.digest}" for f in fingerprint.files}}
