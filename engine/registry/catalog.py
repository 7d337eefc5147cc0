"""The catalogue of what a registry holds: `stackbuild images`, find_images and best_image.

Repositories come from the registry's `/v2/_catalog`, tags from `/v2/<name>/tags/list` (stackbuild's
own `sb-*` content tags and `sbcache-*` cache tags left out), and what each tag holds from its index
and image config: the org.stackbuild.* labels, or the tag read with a stack's convention.
Nothing local (history, lockfiles, state) is consulted.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from engine.errors import RegistryError
from engine.registry.client import RegistryClient, TransientRegistryError
from graph.errors import GraphError
from graph.expand.assemble import find_stack_files
from graph.load.stackfile import load_stack
from graph.present.catalog import ImageRecord, best, query_of, record_of, select

SKIPPED_TAG_PREFIXES = ("sb-", "sbcache-")
PAGE = 1000
READ_THREADS = 8
PREFERRED_PLATFORM = "linux/amd64"  # whose config is read when an index has several
Source = tuple[str, tuple[str, ...]]  # registry prefix, tag conventions to read unlabelled tags with


class Catalogue:
    """Reads repositories, tags and image records from registries (GET requests only)."""

    def __init__(self, client: RegistryClient | None = None, attempts: int = 3,
                 timeout_s: float = 10.0) -> None:
        self.client = client or RegistryClient(timeout_s=timeout_s, attempts=attempts)
        self.attempts, self.timeout_s = attempts, timeout_s

    def repositories(self, prefix: str) -> list[str]:
        """Every repository (host/name) below prefix (host[:port][/path])."""
        host, _, path = prefix.rstrip("/").partition("/")
        names = self._pages(f"{_scheme(host)}://{host}/v2/_catalog?n={PAGE}", "repositories")
        return sorted(f"{host}/{name}" for name in names if not path or name.startswith(path + "/"))

    def tags(self, repository: str) -> list[str]:
        """The human tags of a repository (content and cache tags left out)."""
        host, _, name = repository.partition("/")
        tags = self._pages(f"{_scheme(host)}://{host}/v2/{name}/tags/list?n={PAGE}", "tags")
        return sorted(tag for tag in tags if not tag.startswith(SKIPPED_TAG_PREFIXES))

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
        labels = {str(key): str(value) for key, value in
                  ((config or {}).get("config", {}).get("Labels") or {}).items()}
        return record_of(ref, labels, manifest.digest, names, str((config or {}).get("created", "")),
                         conventions)

    def records(self, prefix: str, conventions: Sequence[str] = ()) -> list[ImageRecord]:
        """Every image record below prefix, sorted by ref."""
        refs = [f"{repository}:{tag}" for repository in self.repositories(prefix)
                for tag in self.tags(repository)]
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            found = pool.map(lambda ref: self.record(ref, conventions), refs)
            return sorted((record for record in found if record is not None), key=lambda r: r.ref)

    def _pages(self, url: str, key: str) -> list[str]:
        """The list under key of every page, following `Link: <…>; rel="next"`."""
        items: list[str] = []
        seen: set[str] = set()
        next_url: str | None = url
        while next_url and next_url not in seen:
            seen.add(next_url)
            body, link = self._get(next_url)
            items += [str(item) for item in body.get(key) or []]
            next_url = urllib.parse.urljoin(next_url, link) if link else None
        return items

    def _get(self, url: str) -> tuple[dict[str, Any], str]:
        """One JSON page and its next-page link, retried on transient failures."""
        fetch = retry(retry=retry_if_exception_type(TransientRegistryError), reraise=True,
                      stop=stop_after_attempt(self.attempts),
                      wait=wait_random_exponential(multiplier=0.2, max=5))(_fetch)
        return fetch(url, self.timeout_s)


def _scheme(host: str) -> str:
    """Plain HTTP for local registries, as RegistryClient does."""
    return "http" if host.startswith(("localhost", "127.")) else "https"


def _fetch(url: str, timeout_s: float) -> tuple[dict[str, Any], str]:
    """GET url: (JSON object, next link or ''); RegistryError when the registry refuses."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            data, link = answer.read(), answer.headers.get("Link", "")
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise TransientRegistryError(f"GET {url}: HTTP {exc.code}") from None
        hint = "the registry does not list its repositories" if "/_catalog" in url else ""
        raise RegistryError(f"GET {url}: HTTP {exc.code} {exc.reason}", hint) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise TransientRegistryError(f"GET {url}: {exc}") from None
    try:
        body = json.loads(data)
    except ValueError:
        raise RegistryError(f"GET {url}: the registry answered with something that is not JSON") from None
    if not isinstance(body, dict):
        raise RegistryError(f"GET {url}: the registry answered with a JSON {type(body).__name__}")
    return body, _next_link(link)


def _next_link(header: str) -> str:
    """The target of rel="next" in a Link header, '' without one."""
    for part in header.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>")
    return ""


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


def sources(root: Path, targets: Sequence[Path], registry: str = "") -> list[Source]:
    """Which registry prefixes to read (the stacks', or registry) and the conventions to read tags with."""
    try:
        stacks = [load_stack(root, file) for file in find_stack_files(root, targets)]
    except GraphError:
        if not registry:
            raise
        stacks = []
    def conventions(prefix: str) -> tuple[str, ...]:
        """The conventions of the stacks pushing below prefix (of every stack with --registry)."""
        return tuple(dict.fromkeys(s.convention for s in stacks
                                   if s.convention and (registry or s.registry == prefix)))

    prefixes = [registry] if registry else list(dict.fromkeys(stack.registry for stack in stacks))
    return [(prefix, conventions(prefix)) for prefix in prefixes]


def gather(wanted: Sequence[Source], client: RegistryClient | None = None) -> list[ImageRecord]:
    """The records of every source; a registry that cannot be read is skipped with a warning."""
    reader, found, failures = Catalogue(client), dict[str, ImageRecord](), list[RegistryError]()
    for prefix, conventions in wanted:
        try:
            found.update((record.ref, record) for record in reader.records(prefix, conventions))
        except RegistryError as exc:
            print(f"warning: cannot read the catalogue of {prefix}: {exc}", file=sys.stderr)
            failures.append(exc)
    if failures and len(failures) == len(wanted):
        raise failures[0]
    return sorted(found.values(), key=lambda record: record.ref)


