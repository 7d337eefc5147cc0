"""The catalogue of what a registry holds: `stackbuild images`, find_images and best_image.

Everything goes through the one RegistryClient (logins, TLS, tokens, retries). Repositories come from
the registry's `/v2/_catalog`, or, where a registry does not offer it (most hosted ones), from the
repositories the stacks define; tags from `/v2/<name>/tags/list` across pages (stackbuild's own `sb-*`
content tags and `sbcache-*` cache tags left out), and what each tag holds from its index and image
config: the org.stackbuild.* labels, or the tag read with a stack's convention.
Nothing local (history, lockfiles, state) is consulted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.errors import RegistryError
from engine.parallel import side_by_side
from engine.registry.client import RegistryClient
from engine.registry.manifest import config_labels
from engine.registry.names import parse_reference
from graph.errors import GraphError
from graph.expand.assemble import find_stack_files
from graph.load.stackfile import load_stack
from graph.model.spec import Stack
from graph.present.catalog import ImageRecord, best, query_of, record_of, select

SKIPPED_TAG_PREFIXES = ("sb-", "sbcache-")
READ_THREADS = 8
PREFERRED_PLATFORM = "linux/amd64"  # whose config is read when an index has several
Source = tuple[str, tuple[str, ...]]  # registry prefix, tag conventions to read unlabelled tags with


class Catalogue:
    """Reads repositories, tags and image records from registries (GET requests only)."""

    def __init__(self, client: RegistryClient | None = None, known: Sequence[str] = ()) -> None:
        self.client = client or RegistryClient(attempts=3)
        self.known = tuple(known)  # host/name of the repositories the stacks define

    def repositories(self, prefix: str) -> list[str]:
        """Every repository (host/name) below prefix (host[:port][/path])."""
        host, _, path = prefix.rstrip("/").partition("/")
        names = self.client.repositories(parse_reference(f"{host}/x").api_host)
        if names is not None:
            return sorted(f"{host}/{name}" for name in names if not path or name.startswith(path + "/"))
        below = sorted({repo for repo in self.known if repo.startswith(prefix.rstrip("/") + "/")})
        if not below:
            raise RegistryError(f"{host} does not list its repositories (no /v2/_catalog for this login)",
                                "name the stack files whose images to list, so their repositories are read")
        return below

    def tags(self, repository: str) -> list[str]:
        """The human tags of a repository (content and cache tags left out)."""
        return sorted(tag for tag in self.client.tags(repository) if not tag.startswith(SKIPPED_TAG_PREFIXES))

    def record(self, ref: str, conventions: Sequence[str] = ()) -> ImageRecord | None:
        """What ref holds, or None when it is gone."""
        manifest = self.client.manifest(ref)
        if manifest is None:
            return None
        repository = ref.rsplit(":", 1)[0]
        config: dict[str, Any] | None
        if manifest.is_index:
            platforms = manifest.platforms()
            chosen = PREFERRED_PLATFORM if PREFERRED_PLATFORM in platforms else min(platforms, default="")
            config = self.client.image_config(f"{repository}@{platforms[chosen]}", chosen) if chosen else None
            names = tuple(sorted(platforms))
        else:
            config = self.client.image_config(ref)
            names = (f"{config.get('os')}/{config.get('architecture')}",) if config else ()
        labels = {str(key): str(value) for key, value in config_labels(config).items()}
        return record_of(ref, labels, manifest.digest, names, str((config or {}).get("created", "")),
                         conventions)

    def records(self, prefix: str, conventions: Sequence[str] = ()) -> list[ImageRecord]:
        """Every image record below prefix, sorted by ref."""
        refs = [f"{repository}:{tag}" for repository in self.repositories(prefix)
                for tag in self.tags(repository)]
        found = side_by_side(lambda ref: self.record(ref, conventions), refs, READ_THREADS)
        return sorted((record for record in found if record is not None), key=lambda r: r.ref)


def _prefixes(registry_prefix: str | Sequence[str]) -> list[str]:
    """One prefix or several, as a list."""
    return [registry_prefix] if isinstance(registry_prefix, str) else list(registry_prefix)


def catalogue(registry_prefix: str | Sequence[str], client: RegistryClient | None = None,
              conventions: Sequence[str] = ()) -> list[ImageRecord]:
    """Every image below one or more registry prefixes, each ref once."""
    reader = Catalogue(client)
    found = {record.ref: record for prefix in _prefixes(registry_prefix)
             for record in reader.records(prefix, conventions)}
    return sorted(found.values(), key=lambda record: record.ref)


def find_images(registry_prefix: str | Sequence[str], *, client: RegistryClient | None = None,
                conventions: Sequence[str] = (), **filters: str | None) -> list[ImageRecord]:
    """The images below registry_prefix matching filters (framework, version, sdk, … see FILTERS)."""
    query = query_of(**filters)
    return select(catalogue(registry_prefix, client, conventions), query)


def best_image(registry_prefix: str | Sequence[str], *, client: RegistryClient | None = None,
               conventions: Sequence[str] = (), **filters: str | None) -> ImageRecord:
    """The single best image matching filters; graph.present.catalog.NoImageMatches when none does."""
    query = query_of(**filters)
    records = catalogue(registry_prefix, client, conventions)
    return best(records, query, where=", ".join(_prefixes(registry_prefix)))


def _stacks(root: Path, targets: Sequence[Path], registry: str) -> list[Stack]:
    """The targeted stacks; none (rather than an error) when registry names what to read anyway."""
    try:
        return [load_stack(root, file) for file in find_stack_files(root, targets)]
    except GraphError:
        if not registry:
            raise
        return []


def sources(root: Path, targets: Sequence[Path], registry: str = "") -> list[Source]:
    """Which registry prefixes to read (the stacks', or registry) and the conventions to read tags with."""
    stacks = _stacks(root, targets, registry)

    def conventions(prefix: str) -> tuple[str, ...]:
        """The conventions of the stacks pushing below prefix (of every stack with --registry): each stack's
        own, then its definitions' `tags:`."""
        wanted = [s for s in stacks if registry or s.registry == prefix]
        specs = [spec for s in wanted for spec in (s.convention, *(d.convention for d in s.definitions))]
        return tuple(dict.fromkeys(spec for spec in specs if spec))

    prefixes = [registry] if registry else list(dict.fromkeys(stack.registry for stack in stacks))
    return [(prefix, conventions(prefix)) for prefix in prefixes]


def stack_repositories(root: Path, targets: Sequence[Path], registry: str = "") -> tuple[str, ...]:
    """The repositories the stacks push to (below registry when given): read where no catalogue is."""
    return tuple(dict.fromkeys(
        f"{registry or stack.registry}/{definition.image}" for stack in _stacks(root, targets, registry)
        for definition in stack.definitions if not definition.external and definition.image))


def gather(wanted: Sequence[Source], client: RegistryClient | None = None,
           known: Sequence[str] = ()) -> list[ImageRecord]:
    """The records of every source; a registry that cannot be read is skipped with a warning.

    known: the repositories the stacks define, listed where a registry has no catalogue."""
    reader, found, failures = Catalogue(client, known), dict[str, ImageRecord](), list[RegistryError]()
    for prefix, conventions in wanted:
        try:
            found.update((record.ref, record) for record in reader.records(prefix, conventions))
        except RegistryError as exc:
            print(f"warning: cannot read the catalogue of {prefix}: {exc}", file=sys.stderr)
            failures.append(exc)
    if failures and len(failures) == len(wanted):
        raise failures[0]
    return sorted(found.values(), key=lambda record: record.ref)


