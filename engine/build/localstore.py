"""The local engine's image store, for `build --load`: which image a reference names, and tagging."""

from __future__ import annotations

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException, NoSuchImage

from engine.errors import EngineError


class LocalStore:
    """Image ids and tags in the engine's store (with the containerd store an id is the index digest)."""

    def __init__(self, docker: DockerClient | None = None) -> None:
        self.docker = docker or DockerClient()

    def image_id(self, reference: str) -> str | None:
        """The id of the local image reference names, None when the store has none."""
        try:
            return str(self.docker.image.inspect(reference).id)
        except NoSuchImage:
            return None
        except DockerException as exc:
            raise EngineError(f"the Docker engine cannot inspect {reference}: {_first_line(exc)}",
                              "check that the engine runs (`make setup`)") from None

    def tag(self, source: str, target: str) -> None:
        """Point the local tag target at the image source names."""
        try:
            self.docker.image.tag(source, target)
        except DockerException as exc:
            raise EngineError(f"cannot tag {source} as {target} locally: {_first_line(exc)}",
                              "check that the engine runs (`make setup`)") from None

    def untag(self, target: str) -> None:
        """Remove the local tag target (its image stays while another tag names it)."""
        try:
            self.docker.image.remove(target, prune=False)
        except DockerException as exc:
            raise EngineError(f"cannot remove the local tag {target}: {_first_line(exc)}",
                              "check that the engine runs (`make setup`)") from None


def _first_line(exc: DockerException) -> str:
    text = (exc.stderr or str(exc)).strip()
    return text.splitlines()[0] if text else ""
