"""The image catalogue, pure: records of published images, filters, and the best match of a query.

A record comes from the labels stackbuild writes (org.stackbuild.*), or, for an image without them,
from its tag read back with a tag convention, plus what the convention reads from the repository name
(PAI's `pytorch-inference` gives framework and scope; the tag's own fields win). `version` means the
framework version, or the SDK version of an image without a framework; versions order by
graph.model.versions.version_key ('1.10' > '1.9', '8.0.RC1' < '8.0.0'); `latest` prefers releases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from graph.errors import GraphError, StackError
from graph.model.versions import is_prerelease, version_key
from graph.tags.conventions import get_convention

LATEST = "latest"  # the newest release (a pre-release only where a family has none)
LATEST_PRE = "latest-pre"  # the newest of all, pre-releases included
LABEL_PREFIX = "org.stackbuild."
CREATED_LABEL = "org.opencontainers.image.created"
ATTRS = ("stack", "node", "layer", "variant", "sdk", "sdk_version", "framework", "framework_version", "app",
         "python", "os", "accelerator", "scope")
VERSIONS = ("version", "sdk_version", "python")  # filters matching a version or its series ('2.2' → 2.2.x)


@dataclass(frozen=True)
class ImageRecord:
    """One published tag and what it holds."""

    ref: str
    digest: str = ""
    platforms: tuple[str, ...] = ()
    created: str = ""
    source: str = "labels"  # labels | tag (read with a convention) | none
    stack: str = ""
    node: str = ""
    layer: str = ""  # os | sdk | framework | tool | llm
    variant: str = ""  # dev for a -dev sibling
    sdk: str = ""
    sdk_version: str = ""
    framework: str = ""
    framework_version: str = ""
    app: str = ""
    python: str = ""
    os: str = ""
    accelerator: str = ""
    scope: str = ""

    @property
    def version(self) -> str:
        """The framework version, or the SDK version of an image without a framework."""
        return self.framework_version or self.sdk_version

    @property
    def family(self) -> str:
        """What version counts: the framework, else the SDK."""
        return self.framework or self.sdk


@dataclass(frozen=True)
class Query:
    """Catalogue filters; '' matches anything, `latest` (version, sdk_version) the newest."""

    framework: str = ""
    version: str = ""
    sdk: str = ""
    sdk_version: str = ""
    python: str = ""
    os: str = ""
    accelerator: str = ""
    scope: str = ""
    layer: str = ""
    stack: str = ""
    platform: str = ""  # e.g. linux/arm64: the image must have it

    def items(self) -> list[tuple[str, str]]:
        """The filters that are set, as (name, value)."""
        return [(item.name, getattr(self, item.name)) for item in fields(self) if getattr(self, item.name)]

    def without(self, name: str) -> Query:
        """The same query with one filter cleared."""
        return replace(self, **{name: ""})

    def __str__(self) -> str:
        return ", ".join(f"{name}={value}" for name, value in self.items()) or "no filter"


FILTERS = tuple(item.name for item in fields(Query))


class NoImageMatches(GraphError):
    """No catalogued image matches a query; the hint says what is available."""


def query_of(**filters: str | None) -> Query:
    """A Query from keyword filters (None and '' are ignored); StackError on an unknown filter."""
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise StackError(f"unknown image filter {unknown[0]!r}", hint=f"filter on {', '.join(FILTERS)}")
    return Query(**{name: str(value) for name, value in filters.items() if value})


def record_of(ref: str, labels: Mapping[str, str], digest: str = "", platforms: Sequence[str] = (),
              created: str = "", conventions: Sequence[str] = ()) -> ImageRecord:
    """A record from an image's labels, or from its tag read with the first convention that fits."""
    base = ImageRecord(ref, digest, tuple(platforms), labels.get(CREATED_LABEL, "") or created, "none")
    if any(key.startswith(LABEL_PREFIX) for key in labels):
        values: dict[str, Any] = {name: labels.get(LABEL_PREFIX + name, "") for name in ATTRS}
        return replace(base, source="labels", **values)
    repository, _, tag = ref.rpartition(":") if "@" not in ref else (ref, "", "")
    for spec in conventions:
        convention = get_convention(spec)
        try:
            info = convention.parse(tag)
        except StackError:
            continue
        attrs = {**convention.repository_attrs(repository), **info.attrs}
        parsed: dict[str, Any] = {name: attrs.get(name, "") for name in ATTRS
                                  if name not in ("layer", "variant")}
        return replace(base, source="tag", layer=info.kind, variant="dev" if info.dev else "", **parsed)
    return base


def _version_matches(value: str, wanted: str) -> bool:
    """value is wanted, or in its series: '2.2' matches 2.2 and 2.2.6, not 2.20."""
    value, wanted = value.casefold(), wanted.casefold()
    return value == wanted or value.startswith(wanted + ".")


def _matches(record: ImageRecord, name: str, wanted: str) -> bool:
    """Whether record passes one filter (`latest` passes here; select keeps the newest)."""
    if name == "platform":
        return wanted in record.platforms
    value = str(getattr(record, name))
    if name in VERSIONS:
        return bool(value) and (wanted in (LATEST, LATEST_PRE) or _version_matches(value, wanted))
    return value.casefold() == wanted.casefold()


def _newest(records: list[ImageRecord], name: str, pre: bool) -> list[ImageRecord]:
    """Per layer, app and framework (or SDK): only the records of the newest value of name.

    Releases win over pre-releases unless pre is set or a group has no release.
    """
    groups: dict[tuple[str, ...], list[ImageRecord]] = {}
    for record in records:
        key = (record.layer, record.app, record.family if name == "version" else record.sdk)
        groups.setdefault(key, []).append(record)
    kept: set[str] = set()
    for members in groups.values():
        releases = [record for record in members if not is_prerelease(str(getattr(record, name)))]
        if releases and not pre:
            members = releases
        top = max(version_key(str(getattr(record, name))) for record in members)
        kept |= {record.ref for record in members if version_key(str(getattr(record, name))) == top}
    return [record for record in records if record.ref in kept]


def select(records: Iterable[ImageRecord], query: Query) -> list[ImageRecord]:
    """The records matching every filter, sorted by ref; `latest` keeps each family's newest."""
    found = sorted((record for record in records
                    if all(_matches(record, name, value) for name, value in query.items())),
                   key=lambda record: record.ref)
    for name in ("sdk_version", "version"):
        if getattr(query, name) in (LATEST, LATEST_PRE):
            found = _newest(found, name, pre=getattr(query, name) == LATEST_PRE)
    return found


def rank(record: ImageRecord) -> tuple[object, ...]:
    """Sort key of the best match: newest version, SDK and Python, a release before -dev, most platforms."""
    return (version_key(record.version), version_key(record.sdk_version), version_key(record.python),
            record.variant == "", len(record.platforms), record.created, record.ref)


def best(records: Iterable[ImageRecord], query: Query, where: str = "the registry") -> ImageRecord:
    """The best image matching query; NoImageMatches saying what is available when none does."""
    catalogue = list(records)
    found = select(catalogue, query)
    if not found:
        raise NoImageMatches(f"no image in {where} matches {query}", hint=available(catalogue, query))
    return max(found, key=rank)


def _values(records: Iterable[ImageRecord], name: str) -> str:
    """The distinct values of one field, in version order."""
    if name == "platform":
        values = {platform for record in records for platform in record.platforms}
    else:
        values = {str(getattr(record, name)) for record in records} - {""}
    return ", ".join(sorted(values, key=version_key)) or "(none)"


def available(records: Sequence[ImageRecord], query: Query) -> str:
    """What is there instead: per filter, the values that would match with the other filters kept."""
    if not records:
        return "the catalogue is empty: build and push images first, or name another --registry"
    hints = [f"{name} can be {_values(near, name)}" for name, _ in query.items()
             if (near := select(records, query.without(name)))]
    if hints:
        return "; ".join(hints)
    return (f"no image comes close; frameworks: {_values(records, 'framework')}; "
            f"SDKs: {_values(records, 'sdk')}; {len(records)} image(s) in all")
