"""What one node's build is: the BuildRequest, its labels, cache flags and parent context; pure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from graph.model.checks import control_problem
from graph.model.spec import Node

PARENT_CONTEXT = "parent"
BASE_DIGEST_LABEL = "org.opencontainers.image.base.digest"  # the parent image a node is built on
BASE_NAME_LABEL = "org.opencontainers.image.base.name"  # the parent's (human) reference
EPOCH_ARG = "SOURCE_DATE_EPOCH"
STACK_LABELS = ("sdk", "sdk_version", "framework", "framework_version", "app", "python", "os",
                "accelerator", "scope")

class UnsafeBuildValue(EngineError):
    """A value would change the meaning of a buildx flag (a ',' where buildx splits, a control character)."""

    exit_code = 2


@dataclass(frozen=True)
class Provenance:
    """Where and when a run builds: source repository, revision and time (not fingerprinted)."""

    source: str = ""  # already public: no credentials, never a local path (engine.state.hygiene)
    revision: str = ""
    created: str = ""  # the commit's time (ISO 8601), so a rebuild of a commit labels the same
    epoch: int | None = None  # SOURCE_DATE_EPOCH: the commit's time, None outside git


@dataclass(frozen=True)
class BuildRequest:
    """Everything one `docker buildx build` of one node needs."""

    node: str
    context: Path
    dockerfile: Path
    platforms: tuple[str, ...]
    tags: tuple[str, ...]
    build_args: tuple[tuple[str, str], ...] = ()
    build_contexts: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    target: str = ""
    push: bool = True
    load: bool = False  # into the local engine's image store instead of a registry (push False)
    cache_from: str = ""  # e.g. type=registry,ref=...; refs are validated, so no ',' is smuggled in
    cache_to: str = ""
    no_cache: bool = False
    pull: bool = False
    provenance: str = ""  # "" (buildx's default), "max", "min" or "off"
    builder: str = ""  # a buildx builder (or docker context) of the pool; '' is the current one
    output: str = ""  # an --output spec instead of --tag/--push (a per-platform push by digest)
    sbom_generator: str = ""  # image reference of a BuildKit SBOM generator ('' for no SBOM)
    extra: dict[str, Any] = field(default_factory=dict)


def parent_image(parent: Node, digest: str) -> str:
    """The exact parent image, by digest: never a moving tag."""
    if parent.external:
        name = parent.external.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        return f"{name.rsplit(':', 1)[0] if ':' in last else name}@{digest}"
    return f"{parent.repository}@{digest}"


def image_labels(node: Node, parent: Node | None, parent_digest: str,
                 provenance: Provenance) -> dict[str, str]:
    """OCI and stack labels of a node's image (none of them depend on its tag)."""
    attrs = dict(node.attrs)
    version = attrs.get("framework_version") or attrs.get("sdk_version") or attrs.get("os", "")
    labels = {
        "org.opencontainers.image.title": node.definition or node.name,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.source": provenance.source,
        "org.opencontainers.image.revision": provenance.revision,
        "org.opencontainers.image.created": provenance.created,
        "org.stackbuild.stack": node.stack,
        "org.stackbuild.node": node.name,
        "org.stackbuild.layer": node.kind,
        "org.stackbuild.variant": node.variant,
        **{f"org.stackbuild.{key}": attrs.get(key, "") for key in STACK_LABELS},
    }
    if parent is not None:
        labels[BASE_NAME_LABEL] = parent.ref
        labels[BASE_DIGEST_LABEL] = parent_digest
    return {key: value for key, value in labels.items() if value}


CACHE_MODES = ("inline", "registry", "registry-min", "local", "none")
CACHE_TAG_PREFIX = "sbcache-"  # sbcache-<cache_key>: a node's registry layer cache (--cache registry)


def cache_key(node: str, platform: str = "") -> str:
    """The key of a node's layer cache (of one platform of it, when given): its cache tag's and folder's
    name, the same in every run, whatever the node's fingerprint."""
    return hashlib.sha256((node + (f"@{platform}" if platform else "")).encode()).hexdigest()[:16]


def cache_flags(node: Node, mode: str, local_dir: Path | None = None, platform: str = "",
                withheld: bool = False) -> tuple[str, str]:
    """(cache_from, cache_to) for a node (one platform of it, when given: builds of platforms run apart
    and must not overwrite each other's cache): inline in the pushed image, a registry cache ref, a
    local folder, or none. A failed cache export never fails a build: the image itself was pushed.

    withheld (the run passes no secret): a node declaring secrets exports nothing (no cache-to, no inline
    metadata), as BuildKit's cache keys leave secrets out: its steps run without them would be cache
    hits for the builds that pass them. It still imports: reading changes no one else's cache."""
    cache_from, cache_to = _cache_refs(node, mode, local_dir, platform)
    return cache_from, "" if withheld and node.secrets else cache_to


def _cache_refs(node: Node, mode: str, local_dir: Path | None, platform: str) -> tuple[str, str]:
    """cache_flags' pair for a build that gets every secret its node declares."""
    key = cache_key(node.name, platform)
    if mode == "inline":  # the cache metadata rides in the image; import from the node's last published one
        return f"type=registry,ref={_safe_ref(node, node.ref)}", "type=inline"
    if mode in ("registry", "registry-min"):
        ref = _safe_ref(node, f"{node.repository}:{CACHE_TAG_PREFIX}{key}")
        depth = "max" if mode == "registry" else "min"
        return f"type=registry,ref={ref}", f"type=registry,ref={ref},mode={depth},ignore-error=true"
    if mode == "local" and local_dir is not None:
        folder = str(local_dir / key)
        if "," in folder or control_problem(folder):
            raise UnsafeBuildValue(f"cache folder {folder!r} contains ',' or a control character",
                                   "choose another --cache-dir")
        return f"type=local,src={folder}", f"type=local,dest={folder},mode=max,ignore-error=true"
    return "", ""


def _safe_ref(node: Node, ref: str) -> str:
    """ref, refused when a ',' or control character would change the meaning of the cache flag."""
    if "," in ref or control_problem(ref):
        raise UnsafeBuildValue(f"node {node.name}: cache ref {ref!r} contains ',' or a control character",
                               "check --registry and the stack's registry")
    return ref


def build_request(node: Node, root: Path, parent: Node | None = None, parent_digest: str = "",
                  provenance: Provenance = Provenance()) -> BuildRequest:
    """The buildx request for node; a child gets its parent as the named context `parent`."""
    if parent is not None and not parent_digest:
        raise ValueError(f"node {node.name}: parent {parent.name} has no pushed digest")
    contexts: tuple[tuple[str, str], ...] = ()
    labels = image_labels(node, parent, parent_digest, provenance)
    if parent is not None:
        contexts = ((PARENT_CONTEXT, f"docker-image://{parent_image(parent, parent_digest)}"),)
    return BuildRequest(
        node=node.name,
        context=root / node.context,
        dockerfile=root / node.dockerfile,
        platforms=node.platforms,
        tags=(node.ref,),
        build_args=with_epoch(node.args, provenance.epoch),
        build_contexts=contexts,
        secrets=tuple(_secret_flag(s.id, s.env, s.src) for s in node.secrets),
        labels=tuple(sorted(labels.items())),
        target=node.target,
        provenance=node.provenance,
        sbom_generator=node.sbom_generator_ref,
    )


def with_epoch(args: tuple[tuple[str, str], ...], epoch: int | None) -> tuple[tuple[str, str], ...]:
    """The build args plus SOURCE_DATE_EPOCH (image `created`, history and, where the exporter allows,
    layer times follow it); the stack's own value wins."""
    if epoch is None or any(name == EPOCH_ARG for name, _ in args):
        return args
    return (*args, (EPOCH_ARG, str(epoch)))


def _secret_flag(secret_id: str, env: str, src: str) -> str:
    """The value of one `--secret` flag; the stack loader has already refused ',' in its parts."""
    for part in (secret_id, env, src):
        if "," in part:
            raise ValueError(f"secret part {part!r} contains ','")
    return f"id={secret_id},env={env}" if env else f"id={secret_id},src={src}"
