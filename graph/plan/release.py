"""Release planning: the tags two versions of the stacks publish, compared by content fingerprint.

Tags are the key: a tag only the new graph publishes is added, one only the old graph publishes is
removed, one both publish with different fingerprints is rebuilt. A tag needs a build unless its
repository already holds an image of its fingerprint at the old version (then it is only re-pointed).
External bases are not published and never listed; a change of one shows as its children's rebuilds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from graph.change.fingerprint import Fingerprint, changed_inputs
from graph.expand.dag import StackGraph
from graph.model.spec import Node
from graph.plan.changes import build_reason, file_inputs

ADDED, REMOVED, REBUILT = "added", "removed", "rebuilt"
CHANGES = (ADDED, REMOVED, REBUILT)
DEFAULT_DURATION_S = 60.0


@dataclass(frozen=True)
class Version:
    """One side of a diff: its stacks and their fingerprints."""

    graph: StackGraph
    fingerprints: Mapping[str, Fingerprint]


@dataclass(frozen=True)
class TagChange:
    """One published tag that differs between the two versions."""

    change: str  # added | removed | rebuilt
    ref: str
    node: str  # the node publishing it (the old node for a removed tag)
    stack: str
    kind: str
    parent: str | None
    old_fingerprint: str = ""
    new_fingerprint: str = ""
    reason: str = ""  # build_reason vocabulary: new_node, dockerfile_changed, parent_rebuilt: x, …
    changed: tuple[str, ...] = ()  # every input that differs (file:<path> per context file)
    build: bool = False  # whether publishing it needs a build
    duration_s: float = 0.0  # estimated build time (0 when no build)
    duration_known: bool = False  # from build history; else the default


@dataclass(frozen=True)
class Estimate:
    """Build time of what the new version needs built."""

    builds: int
    total_s: float  # one build after another
    critical_path_s: float  # the longest parent → child chain of builds (unlimited parallel jobs)
    critical_path: tuple[str, ...]
    unknown: tuple[str, ...]  # nodes without history, counted with the default duration
    default_s: float = DEFAULT_DURATION_S


@dataclass(frozen=True)
class StackDiff:
    """Everything that differs between two versions of the stacks."""

    changes: tuple[TagChange, ...]
    unchanged: int
    estimate: Estimate

    def of(self, change: str) -> tuple[TagChange, ...]:
        """The changes of one kind (added, removed or rebuilt)."""
        return tuple(item for item in self.changes if item.change == change)


def _published(version: Version) -> dict[str, Node]:
    """Ref → node of every image the version builds and publishes."""
    return {node.ref: node for node in version.graph.nodes.values() if not node.external}


def _contents(version: Version) -> set[tuple[str, str]]:
    """(repository, fingerprint) of every image the version builds."""
    return {(node.repository, version.fingerprints[name].value)
            for name, node in version.graph.nodes.items() if not node.external}


def _inputs_changed(old: Fingerprint, new: Fingerprint, parent: str | None) -> tuple[str, tuple[str, ...]]:
    """(the first changed input as build_reason names it, every changed input)."""
    previous = file_inputs(old)
    return build_reason(new, previous, parent), tuple(changed_inputs(previous, file_inputs(new)))


def _new_tag(ref: str, node: Node, old: Version, new: Version, has_content: bool) -> TagChange:
    """An added tag: a new node, or a node that published another tag at the old version."""
    fingerprint = new.fingerprints[node.name]
    before = old.graph.nodes.get(node.name)
    reason, changed = "new_node", tuple[str, ...]()
    if before is not None and not before.external:
        reason, changed = _inputs_changed(old.fingerprints[node.name], fingerprint, node.parent)
        if not changed:
            reason = "retag" if has_content else "new_repository"
        reason = f"{reason} (was {before.ref})"
    return TagChange(ADDED, ref, node.name, node.stack, node.kind, node.parent,
                     new_fingerprint=fingerprint.value, reason=reason, changed=changed,
                     build=not has_content)


def _gone_tag(ref: str, node: Node, new: Version) -> TagChange:
    """A removed tag: its node is gone, or now publishes another tag."""
    after = new.graph.nodes.get(node.name)
    reason = f"tag changed: now {after.ref}" if after is not None and not after.external else "node_removed"
    return TagChange(REMOVED, ref, node.name, node.stack, node.kind, node.parent, reason=reason)


def compare(old: Version, new: Version, durations: Mapping[str, float] | None = None,
            default_s: float = DEFAULT_DURATION_S) -> StackDiff:
    """The tags added, removed and rebuilt from old to new, with the build time new needs."""
    before, after, contents = _published(old), _published(new), _contents(old)
    changes: list[TagChange] = []
    unchanged = 0
    for ref, node in sorted(after.items(), key=lambda item: _position(new, item[1])):
        fingerprint = new.fingerprints[node.name]
        has_content = (node.repository, fingerprint.value) in contents
        previous = before.get(ref)
        if previous is None:
            changes.append(_new_tag(ref, node, old, new, has_content))
            continue
        old_fingerprint = old.fingerprints[previous.name]
        if old_fingerprint.value == fingerprint.value:
            unchanged += 1
            continue
        reason, changed = _inputs_changed(old_fingerprint, fingerprint, node.parent)
        changes.append(TagChange(REBUILT, ref, node.name, node.stack, node.kind, node.parent,
                                 old_fingerprint.value, fingerprint.value, reason, changed, not has_content))
    gone = sorted(((ref, node) for ref, node in before.items() if ref not in after),
                  key=lambda item: _position(old, item[1]))
    changes += [_gone_tag(ref, node, new) for ref, node in gone]
    timed = tuple(_timed(change, durations or {}, default_s) for change in changes)
    return StackDiff(timed, unchanged, estimate(new.graph, timed, default_s))


def _position(version: Version, node: Node) -> tuple[int, str]:
    """Where node comes in its graph's build order (for sorting)."""
    return version.graph.order.index(node.name), node.ref


def _timed(change: TagChange, durations: Mapping[str, float], default_s: float) -> TagChange:
    """change with its estimated build time."""
    if not change.build:
        return change
    known = change.node in durations
    return replace(change, duration_s=durations[change.node] if known else default_s, duration_known=known)


def estimate(graph: StackGraph, changes: tuple[TagChange, ...],
             default_s: float = DEFAULT_DURATION_S) -> Estimate:
    """Total and critical-path build time of the changes that need a build."""
    cost = {change.node: change.duration_s for change in changes if change.build}
    finish: dict[str, float] = {}
    for name in graph.order:
        parent = graph.nodes[name].parent
        finish[name] = cost.get(name, 0.0) + (finish.get(parent, 0.0) if parent else 0.0)
    last = max(finish, key=lambda name: (finish[name], name), default="")
    path: list[str] = []
    current: str | None = last if last and finish[last] > 0 else None
    while current is not None:
        if current in cost:
            path.append(current)
        current = graph.nodes[current].parent
    unknown = tuple(change.node for change in changes if change.build and not change.duration_known)
    return Estimate(len(cost), round(sum(cost.values()), 1), round(finish.get(last, 0.0), 1),
                    tuple(reversed(path)), unknown, default_s)
