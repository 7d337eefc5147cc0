"""Exports for other tools: openEuler's meta.yml (tag → Dockerfile) in EulerPublisher's layout.

EulerPublisher (update/container/app/format.py) reads `<image>/meta.yml`, a mapping of each tag to
`{path: <image-version>/<os-version>/Dockerfile[, arch: aarch64]}`, the path relative to the meta.yml's
folder and exactly three parts deep; it builds each Dockerfile with its folder as the context, for
x86_64 and aarch64 unless `arch` names others, and passes no build args. So every exported tag gets a
folder of its own holding its build context and its Dockerfile with the node's build args as ARG
defaults and its parent image in FROM.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from graph.errors import StackError
from graph.expand.dag import StackGraph
from graph.model import checks
from graph.model.spec import Node

ARCH_NAMES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/loong64": "loongarch64"}
DEFAULT_PLATFORMS = frozenset(("linux/amd64", "linux/arm64"))  # EulerPublisher's when meta.yml names no arch
_FROM_PARENT = re.compile(r"^(\s*FROM\s+(?:--\S+\s+)*)parent(?=\s|$)", re.IGNORECASE | re.MULTILINE)
_COPY_FROM_PARENT = re.compile(r"(--from=)parent(?=\s)", re.IGNORECASE)
_ARG = re.compile(r"^(\s*ARG\s+)([A-Za-z_][A-Za-z0-9_]*)(?:=[^\n]*)?$", re.IGNORECASE | re.MULTILINE)
_BARE = re.compile(r"[A-Za-z0-9_.,:/@+=-]*")


@dataclass(frozen=True)
class MetaEntry:
    """One exported tag: its meta.yml, the folder of its Dockerfile and context, and the node it builds."""

    meta: str  # <stack>/<image>/meta.yml, relative to the output folder
    tag: str
    folder: str  # <image-version>/<os-version>, relative to the meta.yml's folder
    arch: str  # EulerPublisher's arch list ("" for its default, x86_64 and aarch64)
    node: str

    @property
    def path(self) -> str:
        """The Dockerfile as meta.yml names it."""
        return f"{self.folder}/Dockerfile"


def meta_entries(stack_graph: StackGraph) -> list[MetaEntry]:
    """One entry per built node, in plan order; StackError if two tags of an image share a folder."""
    entries: list[MetaEntry] = []
    seen: dict[tuple[str, str], str] = {}
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        if node.external:
            continue
        entry = MetaEntry(posixpath.join(node.stack, node.image, "meta.yml"), node.tag, _folder(node),
                          _arch(node), name)
        other = seen.setdefault((entry.meta, entry.folder), node.tag)
        if other != node.tag:
            raise StackError(f"tags {other!r} and {node.tag!r} of {node.image} would share the folder "
                             f"{entry.folder}", node.location,
                             "give the nodes tags that differ outside their -oe<os> part")
        entries.append(entry)
    return entries


def meta_files(entries: list[MetaEntry]) -> dict[str, dict[str, dict[str, str]]]:
    """meta.yml path → its content: tag → {path[, arch]}."""
    files: dict[str, dict[str, dict[str, str]]] = {}
    for entry in entries:
        content = {"path": entry.path, **({"arch": entry.arch} if entry.arch else {})}
        files.setdefault(entry.meta, {})[entry.tag] = content
    return files


def _folder(node: Node) -> str:
    """<image-version>/<os-version>: the tag without a leading image name or its -oe<os>, and the release."""
    os_name, name = node.attr("os"), posixpath.basename(node.image)
    version = node.tag.replace(f"-oe{os_name}", "", 1) if os_name else node.tag
    if re.match(re.escape(name) + "[0-9]", version):
        version = version[len(name):]
    release_attr = "os_release" if node.attr("os_release") else "os"
    release = node.attr(release_attr) or "any"
    if not checks.VALUE_RE.fullmatch(release) or release in (".", ".."):
        raise StackError(f"node {node.name}: attr {release_attr} {release!r} cannot name a folder of the "
                         "export", node.location,
                         "use letters, digits, '_', '.' and '-' (not '.' or '..') in it")
    return f"{version or node.tag}/{release}"


def _arch(node: Node) -> str:
    """EulerPublisher's arch list for the node's platforms ('' when they are its default)."""
    if frozenset(node.platforms) == DEFAULT_PLATFORMS:
        return ""
    arches = [ARCH_NAMES[platform] for platform in node.platforms if platform in ARCH_NAMES]
    if not arches:
        raise StackError(f"node {node.name} builds for {', '.join(node.platforms)} only, which "
                         "EulerPublisher cannot build", node.location,
                         f"EulerPublisher builds {', '.join(ARCH_NAMES)}; leave the node out with --select")
    return ",".join(arches)


def standalone_dockerfile(text: str, args: Mapping[str, str], parent_ref: str) -> str:
    """text with `FROM parent` starting FROM parent_ref and each ARG in args defaulting to its value."""
    if parent_ref:
        text = _FROM_PARENT.sub(lambda found: found[1] + parent_ref, text)
        text = _COPY_FROM_PARENT.sub(lambda found: found[1] + parent_ref, text)

    def _default(found: re.Match[str]) -> str:
        name = found[2]
        return f"{found[1]}{name}={_quoted(args[name])}" if name in args else found[0]

    return _ARG.sub(_default, text)


def _quoted(value: str) -> str:
    """value as a literal ARG default (defaults are expanded): bare, or quoted with \\, " and $ escaped."""
    if value and _BARE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'
