"""Change detection: from fingerprints and what the registry and history say, an action and a reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graph.change.fingerprint import Fingerprint, changed_inputs
from graph.expand.dag import StackGraph
from graph.model.spec import Node
from graph.plan.entries import BUILD, EXTERNAL, RETAG, SKIP, PlanEntry, built_after


@dataclass(frozen=True)
class Observed:
    """What is known about a node before building: registry digests and the last recorded inputs."""

    content_digest: str | None = None  # digest under the fingerprint's content tag; None: absent
    tag_digest: str | None = None  # digest the human tag points to; None: absent
    previous_inputs: Mapping[str, str] | None = None  # inputs of the last successful build (or use), if any


def decide(stack_graph: StackGraph, fingerprints: Mapping[str, Fingerprint],
           observed: Mapping[str, Observed] | None, full: bool = False,
           candidates: set[str] | None = None) -> tuple[PlanEntry, ...]:
    """The plan: build what has no image for its fingerprint, retag what is built but not tagged.

    With observed None (offline: the registry was not asked) every candidate is a build, `not_checked`.
    An external base's entry carries its digest; every node records the external base it is built on.
    """
    entries = []
    pinned: dict[str, str] = {}  # node → the external base below it, as reference@digest
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        fingerprint = fingerprints[name]
        seen = observed.get(name, Observed()) if observed is not None else None
        parent = stack_graph.nodes[node.parent] if node.parent else None
        if node.external:
            digest = fingerprint.inputs.get("base", "")
            pinned[name] = f"{node.external}@{digest}" if digest else ""
            action, reason = EXTERNAL, external_reason(node.external, fingerprint, seen)
        else:
            pinned[name] = pinned[parent.name] if parent else ""
            action, reason, digest = _action(name, fingerprint, seen, full, candidates, parent)
        entries.append(PlanEntry(name, node.stack, node.kind, node.ref, node.parent, node.platforms,
                                 action, reason, fingerprint.value, digest, pinned[name],
                                 after=built_after(stack_graph, name)))
    return tuple(entries)


def _action(name: str, fingerprint: Fingerprint, seen: Observed | None, full: bool,
            candidates: set[str] | None, parent: Node | None) -> tuple[str, str, str]:
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
    parent_name, base = (parent.name, parent.external) if parent else (None, "")
    return BUILD, build_reason(fingerprint, seen.previous_inputs, parent_name, base), ""


def external_reason(reference: str, fingerprint: Fingerprint, seen: Observed | None) -> str:
    """Why an external base is what it is: resolved, moved since its last run, or not looked up."""
    digest = fingerprint.inputs.get("base", "")
    if seen is None:
        return "base_not_checked"
    if not digest:
        return "base_unresolved"
    previous = seen.previous_inputs or {}
    if previous.get("base") and previous["base"] != digest:
        return base_updated(reference, previous, digest)
    return "base image"


def base_updated(reference: str, previous: Mapping[str, str], digest: str) -> str:
    """`base_updated: <image> <old digest> → <new digest>`."""
    old = previous.get("base", "unrecorded") or "unresolved"
    return f"base_updated: {reference} {old} → {digest or 'unresolved'}"


def build_reason(fingerprint: Fingerprint, previous: Mapping[str, str] | None, parent: str | None,
                 base: str = "") -> str:
    """Why a node needs a build: the first input that changed since its last build.

    base is the external image the node is built on directly ("" when its parent is built here).
    """
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
    if "secrets" in changed:  # this run withholds the node's secrets, or the last build had none
        return "secrets_withheld" if fingerprint.inputs.get("secrets") else "secrets_passed"
    if "base" in changed and base:
        return base_updated(base, previous, fingerprint.inputs.get("base", ""))
    if "parent" in changed:
        return f"parent_rebuilt: {parent}" if parent else "base_changed"
    return "not_in_registry"


def file_inputs(fingerprint: Fingerprint) -> dict[str, str]:
    """The fingerprint's inputs with one entry per context file, as history records them."""
    return {**fingerprint.inputs, **{f"file:{f.path}": f"{f.mode:o}:{f.digest}" for f in fingerprint.files}}
