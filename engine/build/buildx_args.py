"""Turns a node and its parent's pushed digest into a buildx request: pure, no daemon."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.state.hygiene import redacted_args
from graph.model.checks import control_problem
from graph.model.spec import PROVENANCE_MODES, Node

PARENT_CONTEXT = "parent"
BASE_DIGEST_LABEL = "org.opencontainers.image.base.digest"  # the parent image a node is built on
EPOCH_ARG = "SOURCE_DATE_EPOCH"
STACK_LABELS = ("sdk", "sdk_version", "framework", "framework_version", "app", "python", "os",
                "accelerator", "scope")
_PUSHING_OUTPUT = re.compile(r"^type=image,name=([^,]+),push=true$")  # what image_output(push=True) writes


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
        labels["org.opencontainers.image.base.name"] = parent.ref
        labels[BASE_DIGEST_LABEL] = parent_digest
    return {key: value for key, value in labels.items() if value}


CACHE_MODES = ("inline", "registry", "registry-min", "local", "none")


def cache_flags(node: Node, mode: str, local_dir: Path | None = None, platform: str = "") -> tuple[str, str]:
    """(cache_from, cache_to) for a node (one platform of it, when given: builds of platforms run apart
    and must not overwrite each other's cache): inline in the pushed image, a registry cache ref, a
    local folder, or none. A failed cache export never fails a build: the image itself was pushed."""
    key = hashlib.sha256((node.name + (f"@{platform}" if platform else "")).encode()).hexdigest()[:16]
    if mode == "inline":  # the cache metadata rides in the image; import from the node's last published one
        return f"type=registry,ref={_safe_ref(node, node.ref)}", "type=inline"
    if mode in ("registry", "registry-min"):
        ref = _safe_ref(node, f"{node.repository}:sbcache-{key}")
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


def attest_flags(mode: str) -> list[str]:
    """The buildx flags of a provenance mode: an SLSA provenance attestation per platform image."""
    if mode not in ("", *PROVENANCE_MODES):
        raise ValueError(f"unknown provenance mode {mode!r}")
    if mode == "off":
        return ["--provenance=false"]
    return ["--attest", f"type=provenance,mode={mode}"] if mode else []


def platform_push(request: BuildRequest, reference: str, builder: str) -> BuildRequest:
    """request for one builder, pushed to reference (a staging tag of one platform, merged by digest
    afterwards). buildx's push-by-digest=true is not implemented for the docker driver, a tag works on all."""
    if "," in reference or control_problem(reference):
        raise UnsafeBuildValue(f"node {request.node}: reference {reference!r} contains ',' or a control "
                               "character", "check --registry and the stack's registry")
    return replace(request, tags=(), builder=builder, output=image_output(reference, push=True), push=False)


def image_output(reference: str, push: bool) -> str:
    """The --output of an image named reference (already checked), pushed there by buildx when push."""
    return f"type=image,name={reference}" + (",push=true" if push else "")


def pushed_reference(output: str) -> str:
    """The reference an image_output(push=True) pushes to, '' for any other output."""
    match = _PUSHING_OUTPUT.match(output)
    return match.group(1) if match else ""


def _secret_flag(secret_id: str, env: str, src: str) -> str:
    """The value of one `--secret` flag; the stack loader has already refused ',' in its parts."""
    for part in (secret_id, env, src):
        if "," in part:
            raise ValueError(f"secret part {part!r} contains ','")
    return f"id={secret_id},env={env}" if env else f"id={secret_id},src={src}"


def check_request(request: BuildRequest) -> None:
    """Second line of defence (values are checked where they enter): no ',' where buildx splits, no
    control character."""
    separated = [("tag", tag) for tag in request.tags] + [("platform", p) for p in request.platforms]
    separated += [(f"build context {name}", value) for name, value in request.build_contexts]
    separated += [("builder", request.builder)]
    separated += [("SBOM generator", request.sbom_generator)] if request.sbom_generator else []
    for what, value in separated:
        if "," in value:
            raise UnsafeBuildValue(f"node {request.node}: {what} {value!r} contains ','",
                                   "buildx would read it as a separator; check --registry and the stack")
    values = [value for _, value in separated] + list(request.secrets) + [request.target]
    values += [request.cache_from, request.cache_to, str(request.context), str(request.dockerfile)]
    values += [request.builder, request.output]
    values += [text for pair in request.labels for text in pair]
    for value in values:
        if problem := control_problem(value):
            raise UnsafeBuildValue(f"node {request.node}: {problem}", "remove it from the stack or the flags")


def buildx_kwargs(request: BuildRequest, metadata_file: Path) -> dict[str, Any]:
    """Keyword arguments for python-on-whales `docker.buildx.build` (the request checked first)."""
    check_request(request)
    kwargs: dict[str, Any] = {
        "context_path": request.context,
        "file": request.dockerfile,
        "platforms": list(request.platforms),
        "tags": list(request.tags),
        "build_args": dict(request.build_args),
        "build_contexts": dict(request.build_contexts),
        "secrets": list(request.secrets),
        "labels": dict(request.labels),
        "push": request.push,
        "metadata_file": metadata_file,
        "progress": "plain",
    }
    if request.target:
        kwargs["target"] = request.target
    if request.load:
        kwargs["load"] = True
    if request.cache_from:
        kwargs["cache_from"] = request.cache_from
    if request.cache_to:
        kwargs["cache_to"] = request.cache_to
    if request.no_cache:
        kwargs["cache"] = False
    if request.pull:
        kwargs["pull"] = True
    if request.builder:
        kwargs["builder"] = request.builder
    if request.output:
        kwargs["output"] = dict(part.split("=", 1) for part in request.output.split(","))
        kwargs["push"] = False
    if request.sbom_generator:
        kwargs["attest"] = {"type": "sbom", "generator": request.sbom_generator}
    kwargs.update(request.extra)
    return kwargs


def buildx_argv(request: BuildRequest, redact: bool = True) -> list[str]:
    """The equivalent command line; for logs and error messages (redact) the values of build args
    whose names look secret are ***."""
    argv = ["docker", "buildx", "build", *(["--builder", request.builder] if request.builder else []),
            "--platform", ",".join(request.platforms), "--file", str(request.dockerfile)]
    for tag in request.tags:
        argv += ["--tag", tag]
    for key, value in redacted_args(request.build_args) if redact else request.build_args:
        argv += ["--build-arg", f"{key}={value}"]
    for name, value in request.build_contexts:
        argv += ["--build-context", f"{name}={value}"]
    for secret in request.secrets:
        argv += ["--secret", secret]
    if request.target:
        argv += ["--target", request.target]
    for flag, value in (("--cache-from", request.cache_from), ("--cache-to", request.cache_to)):
        argv += [flag, value] if value else []
    argv += ["--no-cache"] if request.no_cache else []
    argv += ["--pull"] if request.pull else []
    argv += attest_flags(request.provenance)
    argv += ["--attest", f"type=sbom,generator={request.sbom_generator}"] if request.sbom_generator else []
    if request.output:
        argv += ["--output", request.output]
    elif request.push:
        argv.append("--push")
    if request.load:
        argv.append("--load")
    return [*argv, str(request.context)]


def without_builder(argv: Sequence[str], drop: bool) -> list[str]:
    """argv without its `--builder NAME` when drop (the builder is chosen by `docker --context`)."""
    if not drop or "--builder" not in argv:
        return list(argv)
    at = list(argv).index("--builder")
    return [*argv[:at], *argv[at + 2:]]
