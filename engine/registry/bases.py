"""External bases (`from:`): each distinct image resolved to its digest once per run, in parallel."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

import structlog

from engine.errors import EngineError, RegistryError
from engine.parallel import side_by_side
from engine.registry.client import Registry
from engine.registry.names import parse_reference

MIRROR_ENV = "STACKBUILD_DOCKERHUB_MIRROR"  # e.g. http://127.0.0.1:5001: where Docker Hub names are looked up
MIRROR_RE = re.compile(r"https?://([A-Za-z0-9.-]+(?::[0-9]+)?)/?")
THREADS = 8
log = structlog.get_logger()


class MirrorError(EngineError):
    """STACKBUILD_DOCKERHUB_MIRROR is not a registry address."""

    exit_code = 2


def mirror_host(value: str) -> str:
    """`http://host:port` → `host:port`; '' for ''."""
    if not value:
        return ""
    match = MIRROR_RE.fullmatch(value.strip())
    if match is None:
        raise MirrorError(f"{MIRROR_ENV}={value!r} is not a registry address",
                          f"set {MIRROR_ENV} to http://HOST:PORT or https://HOST, or unset it")
    return match.group(1)


def hub_path(reference: str) -> str | None:
    """The repository path of a Docker Hub reference (`library/` added), None for another registry."""
    name = parse_reference(reference)
    if not name.is_docker_hub:
        return None
    last = reference.rsplit("/", 1)[-1]
    suffix = last[len(re.split("[:@]", last, maxsplit=1)[0]):]  # the tag and digest as written
    return name.repository + suffix


def lookup_reference(reference: str, mirror: str) -> str:
    """Where to ask for reference: a Docker Hub name below the mirror when there is one, else itself."""
    path = hub_path(reference) if mirror else None
    return f"{mirror}/{path}" if path else reference


def resolve_base(reference: str, registry: Registry, mirror: str | None = None) -> str | None:
    """The digest reference points to now (one HEAD), or None when the registry does not have it.

    mirror (`host:port`) defaults to the one STACKBUILD_DOCKERHUB_MIRROR names.
    """
    host = mirror_host(os.environ.get(MIRROR_ENV, "")) if mirror is None else mirror
    return registry.digest(lookup_reference(reference, host)) or None


def resolve_bases(references: Iterable[str], registry: Registry) -> dict[str, str]:
    """Each distinct reference → its digest, asked once and in parallel; unresolvable ones left out."""
    distinct = sorted(set(references))
    if not distinct:
        return {}
    host = mirror_host(os.environ.get(MIRROR_ENV, ""))

    def look(reference: str) -> str | None:
        try:
            digest = resolve_base(reference, registry, host)
        except RegistryError as exc:
            log.warning("base_unresolved", node="*", base=reference, reason=str(exc))
            return None
        if digest is None:
            log.warning("base_unresolved", node="*", base=reference, reason="not in the registry")
        return digest

    found: Mapping[str, str | None] = dict(zip(distinct, side_by_side(look, distinct, THREADS), strict=True))
    return {reference: digest for reference, digest in found.items() if digest}
