"""The frozen model: stack files, the node definitions they hold, and the expanded nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

from graph.errors import Location

KINDS = ("os", "sdk", "framework", "tool", "llm")
PROVENANCE_MODES = ("max", "min", "off")  # SLSA provenance attestation per platform image
NOWHERE = Location("<memory>")
Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Secret:
    """A build secret handed to buildx `--secret`, read from an environment variable or a file."""

    id: str
    env: str = ""
    src: str = ""
    location: Location = field(default=NOWHERE, compare=False)  # where the stack file names it


@dataclass(frozen=True)
class Node:
    """One image to build (or, with `external`, one base image used as it is)."""

    name: str
    stack: str
    kind: str
    parent: str | None
    dockerfile: str  # path relative to the repository root ("" for an external image)
    context: str  # directory relative to the repository root ("" for an external image)
    registry: str  # registry host plus optional path prefix, e.g. localhost:5000/demo
    image: str  # repository name below the registry
    tag: str
    platforms: tuple[str, ...]
    args: Pairs = ()
    target: str = ""
    test: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()
    variant: str = ""  # "" for a defined node, "dev" for a derived -dev sibling
    attrs: Pairs = ()  # sdk, sdk_version, framework, os, python, ... (inherited from the parent)
    external: str = ""  # an image reference used as is instead of being built
    definition: str = ""  # the definition this node was expanded from
    contract: str = ""  # an image contract the built image must meet (e.g. ymir-executor)
    retest_ancestors: bool = False  # also run every ancestor's smoke test in this image
    provenance: str = "max"  # the stack's `provenance:` mode (fingerprinted: the pushed index holds it)
    location: Location = NOWHERE
    sbom_generator: str = ""  # BuildKit SBOM generator image, relative to `registry` unless it names a host

    @property
    def repository(self) -> str:
        """The full repository, registry included."""
        return f"{self.registry}/{self.image}"

    @property
    def ref(self) -> str:
        """The human tag reference this node publishes (or the external image it uses)."""
        return self.external or f"{self.repository}:{self.tag}"

    def attr(self, name: str, default: str = "") -> str:
        """One attribute's value."""
        return dict(self.attrs).get(name, default)

    @property
    def sbom_generator_ref(self) -> str:
        """The SBOM generator image ('' for none): below this node's registry unless it names a host."""
        if not self.sbom_generator or names_host(self.sbom_generator):
            return self.sbom_generator
        return f"{self.registry}/{self.sbom_generator}"


def names_host(reference: str) -> bool:
    """Whether an image reference starts with a registry host (has '.' or ':', or is localhost)."""
    first, slash, _ = reference.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


@dataclass(frozen=True)
class ImageDoc:
    """What a stack file's `doc:` says about an image for the pages `export meta` writes ('' where it
    says nothing: the pages then say only what the stack gives)."""

    description: str = ""
    category: str = ""
    environment: str = ""  # markdown, as the remaining prose fields
    usage: str = ""
    license: str = ""
    similar_packages: tuple[str, ...] = ()
    dependency: tuple[str, ...] = ()
    logo: str = ""  # a PNG file, relative to the repository root
    location: Location = field(default=NOWHERE, compare=False)  # where `doc:` is written


@dataclass(frozen=True)
class DisplayName:
    """How the pages `export meta` writes spell one attribute value (`openEuler` for `openeuler`)."""

    value: str
    text: str
    location: Location = field(default=NOWHERE, compare=False)  # where `display:` names the value


@dataclass(frozen=True)
class Combination:
    """Matrix values a definition adds, with where they were written. An included combination's value
    of an attribute its parent already has picks the parents it applies to (it never overrides one)."""

    values: Pairs
    location: Location
    included: bool = False


@dataclass(frozen=True)
class Definition:
    """A node as written in a stack file; a matrix definition expands to many nodes."""

    name: str
    stack: str
    kind: str
    parents: tuple[str, ...]  # definition names; each expanded parent gets its own child
    registry: str
    image: str
    tag: str  # a template over attributes, or "" to use the stack's tag convention
    convention: str  # its own `tags:` convention, else the stack's ("" for none)
    dockerfile: str = ""
    context: str = ""
    external: str = ""  # `from:` template: an image used as is, not built
    platforms: tuple[str, ...] = ()  # explicit platforms, () for the default narrowed by the parent
    default_platforms: tuple[str, ...] = ()
    args: Pairs = ()  # values are templates over attributes
    target: str = ""
    test: tuple[str, ...] = ()  # items are templates over attributes
    secrets: tuple[Secret, ...] = ()
    attrs: Pairs = ()  # static attributes (templates allowed)
    combinations: tuple[Combination, ...] = ()  # axes × include; () means one node
    excludes: tuple[tuple[Pairs, Location], ...] = ()  # over all attributes, the parent's included
    constraints: tuple[tuple[str, Location], ...] = ()
    location: Location = NOWHERE
    lines: tuple[tuple[str, Location], ...] = ()  # where each field is written
    name_template: str = ""  # names the expanded nodes; default: definition-values[-parent]
    contract: str = ""
    retest_ancestors: bool = False
    provenance: str = "max"
    sbom_generator: str = ""  # the stack's `sbom: {generator: ...}`
    doc: ImageDoc | None = None  # the image's `doc:` (export meta's README.md and doc/image-info.yml)

    def at(self, field: str) -> Location:
        """Where field is written (the definition's own line when it is not)."""
        return dict(self.lines).get(field, self.location)


@dataclass(frozen=True)
class DevRule:
    """How a stack derives the -dev sibling of its nodes."""

    dockerfile: str
    context: str
    suffix: str = "-dev"
    args: Pairs = ()
    target: str = ""
    test: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()
    excepted: tuple[str, ...] = ()  # definition names without a -dev sibling
    location: Location = NOWHERE


@dataclass(frozen=True)
class Stack:
    """A loaded stack file: its definitions and its -dev rule."""

    name: str
    file: str  # path relative to the repository root
    registry: str
    platforms: tuple[str, ...]  # the default for nodes that do not narrow it
    definitions: tuple[Definition, ...]
    dev: DevRule | None = None
    convention: str = ""
    adopt: bool = False  # promotion may take over human tags that point at images we never built
    display: tuple[DisplayName, ...] = ()  # the stack's `display:` entries, in file order
