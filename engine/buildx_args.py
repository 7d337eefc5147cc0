"""Turns a node and its parent's pushed digest into a buildx request: pure, no daemon."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.spec import Node

PARENT_CONTEXT = "parent"


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
    extra: dict[str, Any] = field(default_factory=dict)


def parent_image(parent: Node, digest: str) -> str:
    """The exact pushed parent, by digest: never a moving tag."""
    return f"{parent.repository}@{digest}"


def build_request(node: Node, root: Path, parent: Node | None = None,
                  parent_digest: str = "") -> BuildRequest:
    """The buildx request for node; a child gets its parent as the named context `parent`."""
    if parent is not None and not parent_digest:
        raise ValueError(f"node {node.name}: parent {parent.name} has no pushed digest")
    contexts: tuple[tuple[str, str], ...] = ()
    labels = {
        "org.opencontainers.image.title": node.name,
        "org.opencontainers.image.version": node.tag,
        "org.stackbuild.stack": node.stack,
        "org.stackbuild.node": node.name,
        "org.stackbuild.kind": node.kind,
    }
    if parent is not None:
        base = parent_image(parent, parent_digest)
        contexts = ((PARENT_CONTEXT, f"docker-image://{base}"),)
        labels["org.opencontainers.image.base.name"] = parent.ref
        labels["org.opencontainers.image.base.digest"] = parent_digest
    return BuildRequest(
        node=node.name,
        context=root / node.context,
        dockerfile=root / node.dockerfile,
        platforms=node.platforms,
        tags=(node.ref,),
        build_args=node.args,
        build_contexts=contexts,
        secrets=tuple(_secret_flag(s.id, s.env, s.src) for s in node.secrets),
        labels=tuple(sorted(labels.items())),
        target=node.target,
    )


def _secret_flag(secret_id: str, env: str, src: str) -> str:
    """The value of one `--secret` flag; the stack loader has already refused ',' in its parts."""
    for part in (secret_id, env, src):
        if "," in part:
            raise ValueError(f"secret part {part!r} contains ','")
    return f"id={secret_id},env={env}" if env else f"id={secret_id},src={src}"


def buildx_kwargs(request: BuildRequest, metadata_file: Path) -> dict[str, Any]:
    """Keyword arguments for python-on-whales `docker.buildx.build`."""
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
    kwargs.update(request.extra)
    return kwargs


def buildx_argv(request: BuildRequest) -> list[str]:
    """The equivalent command line, for logs and error messages (values are not secrets)."""
    argv = ["docker", "buildx", "build", "--platform", ",".join(request.platforms),
            "--file", str(request.dockerfile)]
    for tag in request.tags:
        argv += ["--tag", tag]
    for key, value in request.build_args:
        argv += ["--build-arg", f"{key}={value}"]
    for name, value in request.build_contexts:
        argv += ["--build-context", f"{name}={value}"]
    for secret in request.secrets:
        argv += ["--secret", secret]
    if request.target:
        argv += ["--target", request.target]
    if request.push:
        argv.append("--push")
    return [*argv, str(request.context)]
