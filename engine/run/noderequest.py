"""The buildx request of one node as a run builds it: candidate tag, fingerprint label, cache, parent."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from engine.build.request import PARENT_CONTEXT, BuildRequest, build_request, cache_flags
from engine.run.planner import candidate_ref, content_ref
from graph.model.secrets import passed_secrets
from graph.model.spec import Node

if TYPE_CHECKING:
    from engine.run.runner import NodeRunner


def node_request(runner: NodeRunner, node: Node, parent_digest: str | None = None,
                 platform: str = "") -> BuildRequest:
    """The buildx request of node as runner's run builds it (candidate tag, cache flags); of one
    platform of it when given, on its parent's digest when given."""
    planned, settings = runner.planned, runner.settings
    parent = planned.graph.nodes[node.parent] if node.parent else None
    digest = runner.parents.to_build_on(parent) if parent_digest is None else parent_digest
    secrets = passed_secrets(node, runner.root, settings.secrets)
    request = build_request(replace(node, secrets=secrets), runner.root, parent, digest, runner.provenance)
    cache_from, cache_to = cache_flags(node, settings.cache, settings.cache_dir, platform,
                                       settings.secrets.withhold)
    fingerprint = planned.fingerprints[node.name]
    labels = (*request.labels, ("org.stackbuild.fingerprint", fingerprint.value))
    if settings.load:  # the engine's own build cache; the parent by its unique local tag
        contexts = request.build_contexts
        if parent is not None:  # (BuildKit resolves a local image by tag, a digest in a registry)
            local = runner.local_parents.get(parent.name) or content_ref(parent, planned.fingerprints[
                parent.name])
            contexts = ((PARENT_CONTEXT, f"docker-image://{local}"),)
        return replace(request, tags=(candidate_ref(node, fingerprint),), labels=tuple(sorted(labels)),
                       build_contexts=contexts, push=False, load=True, no_cache=settings.full)
    # nightly (--full): no cache import and fresh bases, but the cache is still exported
    return replace(request, tags=(candidate_ref(node, fingerprint),), labels=tuple(sorted(labels)),
                   cache_from="" if settings.full else cache_from, cache_to=cache_to,
                   no_cache=settings.full, pull=settings.full,
                   builder=settings.pool.only_builder if settings.pool else "",
                   sbom_generator=runner.parents.sbom_generator(node))
