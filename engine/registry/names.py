"""Image references normalised as Docker does: default host, `library/`, tags and digests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import RegistryError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", DOCKER_HUB_API})
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
HOST_RE = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])"
                     r"(?::[0-9]+)?")


class InvalidReference(RegistryError):
    """An image reference Docker would refuse; bad input."""

    exit_code = 2


@dataclass(frozen=True)
class ImageName:
    """A normalised reference: host (docker.io for Docker Hub), repository, tag and/or digest."""

    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def ref(self) -> str:
        """What the distribution API is asked for: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def api_host(self) -> str:
        """The host the distribution API is served on (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def is_docker_hub(self) -> bool:
        return self.host == DOCKER_HUB

    @property
    def base(self) -> str:
        """host/repository, without tag or digest."""
        return f"{self.host}/{self.repository}"

    def with_ref(self, ref: str) -> ImageName:
        """The same repository at another tag or digest."""
        if ":" in ref:  # tags cannot hold one
            return ImageName(self.host, self.repository, digest=ref)
        return ImageName(self.host, self.repository, tag=ref)

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.base}{tag}{digest}" if tag or digest else f"{self.base}:latest"


def is_host(component: str) -> bool:
    """Docker's rule: the first component names a host when it has a '.' or ':' or is localhost."""
    return "." in component or ":" in component or component == "localhost"


def parse_reference(text: str) -> ImageName:
    """Normalise a Docker-style reference; InvalidReference says what is wrong."""
    rest, _, digest = text.partition("@")
    if digest and not DIGEST_RE.fullmatch(digest):
        raise InvalidReference(f"image reference {text!r}: {digest!r} is not a digest",
                               "write it as name@sha256:<64 hex digits>")
    head, slash, tail = rest.rpartition("/")
    name_tail, colon, tag = tail.partition(":")
    path = f"{head}{slash}{name_tail}"
    if colon and not TAG_RE.fullmatch(tag):
        raise InvalidReference(f"image reference {text!r}: {tag!r} is not a valid tag",
                               "use letters, digits, '_', '.', '-' (at most 128, not starting with . or -)")
    first, _, remainder = path.partition("/")
    host, repository = (first, remainder) if remainder and is_host(first) else (DOCKER_HUB, path)
    if host in HUB_ALIASES:
        host = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if not HOST_RE.fullmatch(host):
        raise InvalidReference(f"image reference {text!r}: {host!r} is not a registry host",
                               "write the host as name[:port]")
    if not REPOSITORY_RE.fullmatch(repository) or len(repository) > 255:
        raise InvalidReference(f"image reference {text!r}: {repository!r} is not a valid repository name",
                               "use lower-case letters, digits, '.', '_', '-' and '/'")
    return ImageName(host, repository, tag if colon else ("" if digest else "latest"), digest)
