"""Credential files and folders the environment names (DOCKER_CONFIG, KUBECONFIG, ...): refused from a build
context that would send them, as graph.context.files refuses the well-known names (the engine reads the
variables)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from graph.context.dockerignore import read_ignore_patterns
from graph.context.files import files_matching
from graph.errors import StackError
from graph.model.spec import Node


@dataclass(frozen=True)
class NamedCredential:
    """A credential file, or a tool's folder holding some (DOCKER_CONFIG), an environment variable names."""

    variable: str
    what: str
    path: Path  # absolute
    known: tuple[str, ...] = ()  # a folder: the glob patterns of its credential files (or folders of them)


def check_named_credentials(nodes: Iterable[Node], root: Path, named: Sequence[NamedCredential]) -> None:
    """StackError at the node's line for a context that would send a named credential file in the repository
    (a named folder's known files, e.g. DOCKER_CONFIG's config.json; every file of it when it lies inside
    the context)."""
    top = root.resolve()
    inside = [item for item in named if item.path.resolve().is_relative_to(top)]
    seen: set[tuple[str, str]] = set()
    for node in nodes:
        if not inside or node.external or (node.dockerfile, node.context) in seen:
            continue
        seen.add((node.dockerfile, node.context))
        context = (root / node.context).resolve()
        patterns = read_ignore_patterns(context, root / node.dockerfile)
        for item in inside:
            for sent in files_matching(context, patterns, map(str, _files_of(item, context))):
                raise StackError(
                    f"node {node.name}: build context {root / node.context} would send {sent}, {item.what}, "
                    f"named by {item.variable}, which a `COPY .` would put in the image", node.location,
                    f"add `{sent}` to the context's .dockerignore, or move {item.variable} out of the "
                    "repository")


def _files_of(item: NamedCredential, context: Path) -> Iterator[Path]:
    """The credential files item names that lie in context: a folder's known files; all its files when the
    folder lies below the context's top (it is the tool's own, not a folder of the project)."""
    path = item.path.resolve()
    if not item.known:
        yield from [path] if path.is_file() else []
    elif path != context and path.is_relative_to(context):
        yield from _files_below(path)
    else:
        for pattern in item.known:
            for found in sorted(path.glob(pattern)):
                yield from _files_below(found) if found.is_dir() else [found] if found.is_file() else []


def _files_below(folder: Path) -> list[Path]:
    return [found for found in sorted(folder.rglob("*")) if found.is_file()]
