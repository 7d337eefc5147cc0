"""The pages `export meta` writes beside each meta.yml, as every image folder of openeuler-docker-images
has them: README.md and doc/image-info.yml (plus doc/picture/logo.png when the stack names a logo).

What the stack gives is derived: the name, the tags with their Dockerfiles, a one-line "Currently" from
each node's attributes (its app, framework and SDK with their versions, Python, the OS; each value as
the stack's `display:` spells it), architectures from its platforms, and the pull command of its
repository. Prose (description, usage, ...) comes from
the image's `doc:` only; where it says nothing the pages say so in neutral words, never a guess.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import yaml

from graph.errors import StackError
from graph.model.spec import ImageDoc, Node, Stack
from graph.present.export import MetaEntry

_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?")
_URL_TEXT = re.compile(r"[A-Za-z0-9._~:/@!$&*+,;=%-]*")  # no space, quote, bracket, `|`, `<`, `>` or `\\`

README = "README.md"
IMAGE_INFO = "doc/image-info.yml"
LOGO = "doc/picture/logo.png"
DEFAULT_CATEGORY = "others"  # openeuler-docker-images' category of images that have no other
NONE_LISTED = ("N/A",)  # openeuler-docker-images' entry of an empty similar_packages or dependency list
COMPONENTS = (("app", "app_version"), ("framework", "framework_version"), ("sdk", "sdk_version"))
NO_ENVIRONMENT = "Needs a container engine that runs OCI images, such as Docker."
NO_USAGE = "No usage notes are given for this image."
NO_LICENSE = "Not stated; see the licenses of the software in the image."
AS_IS: Mapping[str, str] = MappingProxyType({})  # no display names: every value shown as it is


@dataclass(frozen=True)
class TagRow:
    """One row of an image's tag table."""

    tag: str
    dockerfile: str  # relative to the image folder, or an absolute URL (a link base)
    currently: str
    architectures: str


@dataclass(frozen=True)
class ImagePages:
    """The pages of every exported image, by path relative to the output folder."""

    texts: dict[str, str]
    logos: dict[str, str]  # the logo's copy → the logo, relative to the repository root


def image_docs(stacks: Iterable[Stack]) -> dict[tuple[str, str], ImageDoc]:
    """(stack, image) → the `doc:` its definitions write (loading the graph allows one per image of a
    stack, across the files with that stack name)."""
    return {(stack.name, definition.image): definition.doc for stack in stacks
            for definition in stack.definitions if definition.doc is not None}


def link_base_problem(value: str) -> str:
    """Why value cannot be the URL the output folder is published at (links are appended to it), or ''."""
    scheme, _, rest = value.partition("://")
    host = rest.split("/", 1)[0]
    if scheme not in ("https", "http") or not rest:
        return f"{value!r} is not an https:// or http:// URL"
    if not _URL_TEXT.fullmatch(value.replace("?", "").replace("#", "")):
        return f"{value!r} holds a space or a character a markdown link or table cannot hold"
    if "?" in value or "#" in value:
        return f"{value!r} has a query or fragment, which the Dockerfile paths would be appended to"
    if "@" in host:
        return f"{value!r} holds a user name or password, which would be published in every page"
    return "" if _HOST.fullmatch(host) else f"{value!r} names no host"


def image_pages(entries: list[MetaEntry], nodes: Mapping[str, Node],
                docs: Mapping[tuple[str, str], ImageDoc], link_base: str = "",
                display: Mapping[str, Mapping[str, str]] = MappingProxyType({})) -> ImagePages:
    """README.md, doc/image-info.yml and the logo of each image folder meta_entries gives; with a
    link_base (the URL of the output folder) each tag links to its Dockerfile's URL below it; display
    (stack → attribute value → text, graph.load.display) spells the values its "Currently" lines show."""
    groups: dict[str, list[MetaEntry]] = {}
    for entry in entries:
        groups.setdefault(posixpath.dirname(entry.meta), []).append(entry)
    texts, logos = {}, {}
    for folder, group in groups.items():
        _refuse_tag_folders_on_pages(group, nodes)
        first = nodes[group[0].node]
        doc = docs.get((first.stack, first.image), ImageDoc())
        rows = tag_rows(group, nodes, link_base.rstrip("/") + f"/{folder}/" if link_base else "",
                        display.get(first.stack, AS_IS))
        texts[posixpath.join(folder, README)] = readme(first, rows, doc)
        texts[posixpath.join(folder, IMAGE_INFO)] = image_info(first, rows, doc)
        if doc.logo:
            logos[posixpath.join(folder, LOGO)] = doc.logo
    return ImagePages(texts, logos)


def _refuse_tag_folders_on_pages(entries: list[MetaEntry], nodes: Mapping[str, Node]) -> None:
    """StackError for a tag whose folder would be where a page goes (a tag README.md-oe2403lts)."""
    for entry in entries:
        clash = next((page for page in (README, IMAGE_INFO, LOGO)
                      if entry.folder == page or entry.folder.startswith(page + "/")), None)
        if clash:
            raise StackError(f"tag {entry.tag!r} would have its folder {entry.folder} where export meta "
                             f"writes the image's {clash}", nodes[entry.node].location,
                             "give the node a tag that does not start with the name of a page")


def tag_rows(entries: list[MetaEntry], nodes: Mapping[str, Node], prefix: str = "",
             display: Mapping[str, str] = AS_IS) -> list[TagRow]:
    """One row per tag of an image, its Dockerfile after prefix (the image folder's URL, or ''); equal
    "Currently" lines get the attributes that tell them apart."""
    group = [nodes[entry.node] for entry in entries]
    lines = [currently(node, display) for node in group]
    for line in {line for line in lines if lines.count(line) > 1}:
        same = [node for node, other in zip(group, lines, strict=True) if other == line]
        apart = {node.name: _told_apart(node, same, display) for node in same}
        lines = [f"{other} ({apart[node.name]})" if apart.get(node.name) else other
                 for node, other in zip(group, lines, strict=True)]
    return [TagRow(entry.tag, prefix + entry.path, line,
                   ", ".join(p.split("/", 1)[1] for p in node.platforms))
            for entry, node, line in zip(entries, group, lines, strict=True)]


def _told_apart(node: Node, same: list[Node], display: Mapping[str, str]) -> str:
    """node's values of the attributes whose values differ among same: `ngram 2`; spelled, unless two of
    an attribute's values are spelled alike (then as they are, which tells them apart)."""
    keys = sorted({key for other in same for key, _ in other.attrs
                   if len({each.attr(key) for each in same}) > 1})

    def value(key: str) -> str:
        values = {each.attr(key) for each in same}
        spelled = len({_shown(each, display) for each in values}) == len(values)
        return (_shown(node.attr(key), display) if spelled else node.attr(key)) or "-"

    return ", ".join(f"{key} {value(key)}" for key in keys)


def currently(node: Node, display: Mapping[str, str] = AS_IS) -> str:
    """What a tag holds, from the node's attributes, each value spelled as display gives: `PyTorch 2.5.1
    with CANN 8.1.RC1, Python 3.11 on openEuler 24.03-LTS`, plus its variant (dev)."""
    def shown(name: str) -> str:
        return _shown(node.attr(name), display)

    parts = [f"{shown(name)} {shown(version)}".strip() for name, version in COMPONENTS if node.attr(name)]
    if node.attr("python"):
        parts.append(f"Python {shown('python')}")
    held = f"{parts[0]} with {', '.join(parts[1:])}" if len(parts) > 1 else "".join(parts)
    os_text = " ".join(filter(None, (shown("os_name"), shown("os_release") or shown("os"))))
    text = " on ".join(filter(None, (held, os_text))) or node.definition
    return f"{text} ({node.variant} variant)" if node.variant else text


def _shown(value: str, display: Mapping[str, str]) -> str:
    """value as the stack spells it on its pages ('' stays '')."""
    return display.get(value, value) if value else ""


def tag_table(rows: list[TagRow]) -> str:
    """The markdown table of tags, each linked to its Dockerfile."""
    lines = ["| Tag | Currently | Architectures |", "| --- | --- | --- |"]
    lines += [f"| [{row.tag}]({row.dockerfile}) | {_cell(row.currently)} | {row.architectures} |"
              for row in rows]
    return "\n".join(lines) + "\n"


def readme(node: Node, rows: list[TagRow], doc: ImageDoc) -> str:
    """The image folder's README.md."""
    sections = [
        f"<!-- Written by `stackbuild export meta` from the stack {node.stack}: "
        "edit the image's `doc:` there instead. -->",
        f"# {node.image}", _description(node, doc),
        "## Supported tags and respective Dockerfile links",
        "Each tag links to the Dockerfile it is built from" + ("." if _linked(rows) else ", in this folder."),
        tag_table(rows).rstrip("\n"),
        "## Download", f"```bash\ndocker pull {node.repository}:{{Tag}}\n```",
        "Replace `{Tag}` with a tag from the table above.",
    ]
    for title, text in (("Usage", doc.usage), ("Environment", doc.environment), ("License", doc.license)):
        if text:
            sections += [f"## {title}", text]
    return "\n\n".join(sections) + "\n"


def image_info(node: Node, rows: list[TagRow], doc: ImageDoc) -> str:
    """doc/image-info.yml: the keys the openEuler site reads, in openeuler-docker-images' order."""
    content = {
        "name": node.image,
        "category": doc.category or DEFAULT_CATEGORY,
        "description": _description(node, doc),
        "environment": _block(doc.environment or NO_ENVIRONMENT),
        "tags": f"Tags of {node.repository}, each linked to its Dockerfile"
                f"{'' if _linked(rows) else ' (relative to the image folder)'}:\n\n{tag_table(rows)}",
        "download": f"Pull an image, `{{Tag}}` being one of the tags above:\n```\n"
                    f"docker pull {node.repository}:{{Tag}}\n```\n",
        "usage": _block(doc.usage or NO_USAGE),
        "license": doc.license or NO_LICENSE,
        "similar_packages": list(doc.similar_packages or NONE_LISTED),
        "dependency": list(doc.dependency or NONE_LISTED),
    }
    header = (f"# Written by `stackbuild export meta` from the stack {node.stack}: edit the image's `doc:` "
              "there instead.\n")
    return header + yaml.dump(content, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def _linked(rows: list[TagRow]) -> bool:
    """Whether the rows link URLs (a link base) rather than paths relative to the image folder."""
    return any("://" in row.dockerfile for row in rows)


def _description(node: Node, doc: ImageDoc) -> str:
    """The author's description, else one that states only what the stack gives."""
    return doc.description or f"The {node.image} images of the stack {node.stack}, published as " \
        f"{node.repository}."


def _block(text: str) -> str:
    """Multi-line text ending in a newline (written as a `|` block)."""
    return text if "\n" not in text else text.rstrip("\n") + "\n"


def _cell(text: str) -> str:
    """text inside a table cell: a `|` would end the cell."""
    return text.replace("|", "\\|")


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings as `|` blocks, as openeuler-docker-images' image-info.yml files do."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_text)
