"""Registry listings (`/v2/_catalog`, `tags/list`): every page, following the Link headers, checked."""

from __future__ import annotations

import urllib.parse

from engine.errors import RegistryError
from engine.registry.answers import json_body
from engine.registry.endpoints import endpoint_for
from engine.registry.failures import redact
from engine.registry.session import RegistrySession
from engine.registry.transport import next_link

PAGE = 1000
MAX_PAGES = 10_000  # of one listing: a registry whose Link headers never end is not followed forever


def pages(session: RegistrySession, host: str, path: str, key: str, scope: str) -> list[str] | None:
    """The list under key of every page, following `Link: <…>; rel="next"`; None for a 404."""
    items: list[str] = []
    seen: set[str] = set()
    next_path: str | None = path
    while next_path and next_path not in seen:
        seen.add(next_path)
        response = session.request(endpoint_for(host), "GET", next_path, scope)
        if response is None:
            return items if items else None
        where = f"{host}{redact(next_path)}"
        items += _names(json_body(where, response.body).get(key), where, key)
        link = next_link(response.headers.get("link", ""))
        next_path = _next_page(host, next_path, link) if link else None
        if len(seen) >= MAX_PAGES and next_path:
            raise RegistryError(f"{host}{redact(path)}: the listing goes on for more than "
                                f"{MAX_PAGES} pages", "check the registry (its Link headers never end)")
    return items


def _names(found: object, where: str, key: str) -> list[str]:
    """The names a listing page holds under key: a list of strings (none when null or absent)."""
    if found is None:
        return []
    if not isinstance(found, list) or not all(isinstance(item, str) for item in found):
        raise RegistryError(f"{where}: `{key}` is not a list of names",
                            "the registry's answer is malformed; check the registry")
    return found


def _next_page(host: str, path: str, link: str) -> str:
    """The path of the page a Link target names: relative to path, or an absolute URL on host itself."""
    target = urllib.parse.urlsplit(urllib.parse.urljoin(path, link))
    if target.scheme not in ("", "http", "https") or target.netloc not in ("", host):
        raise RegistryError(f"{host}{redact(path)}: the next page is on another server ({redact(link)})",
                            "check the registry (its Link header leaves it)")
    return (target.path or "/") + (f"?{target.query}" if target.query else "")
