"""The digests a node is built on: its parent's and its SBOM generator's, each resolved once per run."""

from __future__ import annotations

import threading

from engine.errors import RegistryError
from engine.registry.bases import MIRROR_ENV, resolve_base
from engine.registry.client import Registry
from engine.run.early import EarlyParents
from engine.run.planner import Planned, content_ref
from graph.model.spec import Node


class ParentDigests:
    """Digests of the nodes others rest on: built in this run, known from the plan, or looked up."""

    def __init__(self, planned: Planned, registry: Registry, early: EarlyParents,
                 lock: threading.Lock) -> None:
        self.planned, self.registry, self.early, self.lock = planned, registry, early, lock
        # PR mode: the untouched parents' digests come from the plan's lookup, not from the entries (a
        # skip records no digest: history would vouch for it under the run's fingerprint)
        planned_digests = {entry.node: entry.digest for entry in planned.entries if entry.digest}
        self.known = {**planned.support, **planned_digests}

    def of(self, parent: Node | None) -> str:
        """The parent's digest ('' for none); a parent released early is waited for."""
        if parent is None:
            return ""
        with self.lock:
            if parent.name in self.known:
                return self.known[parent.name]
        if final := self.early.final_digest(parent.name):
            return final
        digest = self._base_digest(parent) if parent.external else self._pushed_digest(parent)
        with self.lock:
            self.known[parent.name] = digest
        return digest

    def to_build_on(self, parent: Node | None) -> str:
        """The digest a child is built on: its parent's pushed digest while the parent runs on after
        its push (released early: engine.run.early), else the parent's digest (of)."""
        pushed = self.early.pushed_digest(parent.name) if parent is not None else None
        return pushed or self.of(parent)

    def sbom_generator(self, node: Node) -> str:
        """The node's SBOM generator: pinned to its digest when this graph builds it (its human tag
        moves only after the run), else the reference as written."""
        generator = built_generator(self.planned, node)
        return f"{generator.repository}@{self.of(generator)}" if generator else node.sbom_generator_ref

    def _base_digest(self, base: Node) -> str:
        """An external base the plan could not resolve: one more try, the same way."""
        digest = resolve_base(base.ref, self.registry)
        if not digest:
            raise RegistryError(f"base {base.ref} cannot be resolved to a digest",
                                f"check the image name, or set {MIRROR_ENV} for a Docker Hub mirror")
        return digest

    def _pushed_digest(self, parent: Node) -> str:
        """A node neither built here nor planned with a digest (an SBOM generator outside a PR's change;
        PR mode plans every parent it builds on): its content tag's digest, else its human tag's."""
        for ref in (content_ref(parent, self.planned.fingerprints[parent.name]), parent.ref):
            digest = self.registry.digest(ref)
            if digest:
                return digest
        raise RegistryError(f"parent {parent.ref} is not in the registry", f"build {parent.name} first")


def built_generator(planned: Planned, node: Node) -> Node | None:
    """node's SBOM generator when this graph builds it (one of node's predecessors), else None."""
    ref = node.sbom_generator_ref
    for name in planned.graph.graph.predecessors(node.name) if ref else ():
        generator = planned.graph.nodes[name]
        if generator.ref == ref and not generator.external:
            return generator
    return None
