"""`build --check-reproducible`: rebuild published nodes without cache, compare per-platform digests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from engine.build.request import Provenance
from engine.errors import EngineError
from engine.registry.client import RegistryClient
from engine.registry.manifest import Manifest, config_labels
from engine.run.api import Options, check_run_secrets, load_to_send, source_provenance
from engine.run.planner import content_ref, plan_build
from engine.run.runner import NodeRunner
from engine.run.settings import BuildSettings
from engine.state.report import NodeReport, RunReport
from graph.model.secrets import REPOSITORY_ONLY, SecretPolicy
from graph.model.spec import Node

if TYPE_CHECKING:
    from engine.build.builder import Builder

log = structlog.get_logger()
CHECK_TAG_PREFIX = "sbrepro-"  # the rebuild's own tag: the published tags are never overwritten


class NotReproducible(EngineError):
    """A node rebuilt from the same commit gave another digest on some platform."""


@dataclass(frozen=True)
class PlatformCheck:
    """One platform of a node: the published and the rebuilt image digests, and the first difference."""

    platform: str
    published: str
    rebuilt: str
    difference: str = ""  # "" when the digests are equal


@dataclass(frozen=True)
class Reproduction:
    """A node's published index compared with a rebuild of it, platform by platform."""

    node: str
    published_ref: str
    rebuilt_ref: str
    platforms: tuple[PlatformCheck, ...]

    @property
    def reproducible(self) -> bool:
        """Whether every platform image has the published digest (and there was an image to compare)."""
        return bool(self.platforms) and all(check.published == check.rebuilt for check in self.platforms)


def check_reproducible(options: Options, builder: Builder, names: tuple[str, ...],
                       registry: RegistryClient | None = None,
                       secrets: SecretPolicy = REPOSITORY_ONLY) -> list[Reproduction]:
    """Rebuild each named node without cache under its own tag, then compare with the published one."""
    registry = registry or RegistryClient()
    stack_graph = load_to_send(options)
    missing = [name for name in names if name not in stack_graph.nodes or stack_graph.nodes[name].external]
    if missing:
        raise EngineError(f"no built node named {missing[0]!r}", "`stackbuild plan` lists the nodes")
    check_run_secrets((stack_graph.nodes[name] for name in names), options.root, secrets)
    planned = plan_build(stack_graph, options.root, registry, None, withheld=secrets.withhold)  # as build
    folder = options.state / "reproduce"
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    settings = BuildSettings(cache="none", test=False, secrets=secrets)
    runner = NodeRunner(options.root, planned, builder, RunReport("reproduce", str(folder), now), registry,
                        settings, source_provenance(options.root, now))
    return [_check(runner, registry, stack_graph.nodes[name], folder) for name in names]


def _check(runner: NodeRunner, registry: RegistryClient, node: Node, folder: Path) -> Reproduction:
    """One node: its published index (content tag) against a no-cache rebuild pushed to its check tag."""
    fingerprint = runner.planned.fingerprints[node.name]
    published_ref = content_ref(node, fingerprint)
    published = registry.manifest(published_ref)
    if published is None:
        raise EngineError(f"node {node.name}: {published_ref} is not in the registry",
                          "build and publish it first, then check it")
    rebuilt_ref = f"{node.repository}:{CHECK_TAG_PREFIX}{fingerprint.value[:16]}"
    config = registry.image_config(published_ref, next(iter(sorted(published.platforms())), ""))
    runner.provenance = published_provenance(config or {}, runner.provenance)
    request = replace(runner.request_for(node), tags=(rebuilt_ref,), no_cache=True, cache_from="",
                      cache_to="")
    log.info("reproduction_started", node=node.name, ref=rebuilt_ref)
    record = NodeReport(node.name, rebuilt_ref, "reproduce", "no-cache rebuild")
    # repeated on a registry or network fault (a distribution HEAD answering 500), as every build is
    result = runner.build_with_retries(request, folder / "logs" / f"{node.name}.log", record, node)
    rebuilt = registry.manifest(f"{node.repository}@{result.digest}")
    checks = platform_checks(registry, node, published, rebuilt)
    return Reproduction(node.name, published_ref, rebuilt_ref, checks)


def platform_checks(registry: RegistryClient, node: Node, published: Manifest,
                    rebuilt: Manifest | None) -> tuple[PlatformCheck, ...]:
    """Each platform image of the published index (or the published image itself) against the rebuild's."""
    mine, theirs = images_of(published, node), images_of(rebuilt, node) if rebuilt else {}
    checks = []
    for platform, digest in sorted(mine.items()):
        other = theirs.get(platform, "")
        difference = "" if other == digest else _first_difference(registry, node, platform, digest, other)
        checks.append(PlatformCheck(platform, digest, other, difference))
    return tuple(checks)


def images_of(manifest: Manifest, node: Node) -> dict[str, str]:
    """Platform → image digest: an index's platform images, or a single image under its node's platform."""
    if manifest.is_index:
        return manifest.platforms()
    return {node.platforms[0] if len(node.platforms) == 1 else "image": manifest.digest}


def published_provenance(config: dict[str, Any], current: Provenance) -> Provenance:
    """The source, revision and time the published image was built with (its OCI labels), so a check
    from a later commit that left the node's inputs alone rebuilds what that commit built."""
    labels = {key: value for key, value in config_labels(config).items() if isinstance(value, str)}
    created = labels.get("org.opencontainers.image.created", "")
    try:
        epoch = int(datetime.fromisoformat(created).timestamp()) if created else None
    except (ValueError, OverflowError):
        return current
    if epoch is None:
        return current
    return Provenance(labels.get("org.opencontainers.image.source", ""),
                      labels.get("org.opencontainers.image.revision", ""), created, epoch)


def _first_difference(registry: RegistryClient, node: Node, platform: str, published: str,
                      rebuilt: str) -> str:
    """The first layer, else the first config field, in which two platform images differ."""
    if not rebuilt:
        return "the rebuild has no image for this platform"
    mine, theirs = (registry.manifest(f"{node.repository}@{digest}") for digest in (published, rebuilt))
    configs = [registry.image_config(f"{node.repository}@{digest}", platform)
               for digest in (published, rebuilt)]
    return first_difference(mine.layers() if mine else [], theirs.layers() if theirs else [],
                            configs[0] or {}, configs[1] or {})


def first_difference(layers: list[str], other_layers: list[str], config: dict[str, Any],
                     other_config: dict[str, Any]) -> str:
    """Where two images first differ: a layer (base first), else a config field (its JSON path)."""
    for index, (mine, theirs) in enumerate(zip(layers, other_layers, strict=False)):
        if mine != theirs:
            return f"layer {index + 1}: {mine} != {theirs}"
    if len(layers) != len(other_layers):
        return f"layer count: {len(layers)} != {len(other_layers)}"
    mine_fields, their_fields = _flat(config), _flat(other_config)
    for key in sorted(set(mine_fields) | set(their_fields)):
        if mine_fields.get(key) != their_fields.get(key):
            return f"config {key}: {mine_fields.get(key)!r} != {their_fields.get(key)!r}"
    return "the manifests differ (annotations or media types)"


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON document as {path: scalar}: `config.Labels.x`, `history[2].created`."""
    if isinstance(value, dict):
        return {key: item for name in value for key, item in _flat(value[name], f"{prefix}.{name}"
                                                                   if prefix else name).items()}
    if isinstance(value, list):
        return {key: item for index, entry in enumerate(value)
                for key, item in _flat(entry, f"{prefix}[{index}]").items()}
    return {prefix: value}


def summary(results: list[Reproduction]) -> list[str]:
    """Lines for the terminal: one per node and platform."""
    lines = []
    for result in results:
        lines.append(f"{result.node}: {'reproducible' if result.reproducible else 'NOT reproducible'} "
                     f"(published {result.published_ref}, rebuilt {result.rebuilt_ref})")
        lines += [f"  {check.platform:<14} {check.published[:19]} "
                  f"{'== ' + check.rebuilt[:19] if not check.difference else '!= ' + check.difference}"
                  for check in result.platforms]
    return lines
