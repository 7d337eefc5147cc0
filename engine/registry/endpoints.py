"""Where and how to reach a registry, as dockerd decides: scheme, CAs and client certificates, mirrors."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import ssl
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from engine.errors import RegistryError

DAEMON_JSON_ENV = "STACKBUILD_DAEMON_JSON"
CERTS_D_ENV = "STACKBUILD_CERTS_D"
INSECURE_ENV = "STACKBUILD_INSECURE_REGISTRIES"
DEFAULT_DAEMON_JSON = "/etc/docker/daemon.json"
DEFAULT_CERTS_D = "/etc/docker/certs.d"
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
# a host name (or [IPv6]) and port: also a folder name under certs.d, so no '/', '..' or empty label
HOST_RE = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")


@dataclass(frozen=True)
class Endpoint:
    """How to reach one registry host: base URL, the CA files to trust and a client certificate."""

    host: str
    scheme: str
    ca_files: tuple[str, ...] = ()
    client_cert: tuple[str, str] | None = None  # (*.cert, *.key)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def certs_folder(self) -> str:
        return str(certs_d() / self.host)

    def ssl_context(self) -> ssl.SSLContext:
        """System trust plus the host's certs.d CAs, and its client certificate when there is one."""
        context = ssl.create_default_context()
        for ca in self.ca_files:
            context.load_verify_locations(cafile=ca)
        if self.client_cert:
            context.load_cert_chain(*self.client_cert)
        return context


def certs_d() -> Path:
    return Path(os.environ.get(CERTS_D_ENV) or DEFAULT_CERTS_D)


def daemon_config() -> dict[str, Any]:
    """dockerd's daemon.json ({} when absent); its path can be overridden by env for tests."""
    path = Path(os.environ.get(DAEMON_JSON_ENV) or DEFAULT_DAEMON_JSON)
    try:
        changed = path.stat().st_mtime_ns
    except OSError:
        changed = 0
    return _read_daemon_json(str(path), changed)


@cache
def _read_daemon_json(path: str, changed: int) -> dict[str, Any]:
    """daemon.json read once per version of the file (changed: its mtime)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{path}: cannot read the Docker daemon config: {type(exc).__name__}",
                            f"fix the file or point {DAEMON_JSON_ENV} at another one") from None
    return data if isinstance(data, dict) else {}


def mirrors() -> tuple[str, ...]:
    """The daemon's Docker Hub mirrors (`registry-mirrors`) as base URLs, in order."""
    return tuple(str(url).rstrip("/") for url in daemon_config().get("registry-mirrors") or ())


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1, with or without a port."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str) -> bool:
    """Configured for plain HTTP: daemon.json `insecure-registries` (hosts or CIDRs) or the env var."""
    listed = [*(daemon_config().get("insecure-registries") or ()),
              *(os.environ.get(INSECURE_ENV, "").replace(",", " ").split())]
    name = host.rsplit(":", 1)[0].strip("[]")
    for entry in map(str, listed):
        if entry == host:
            return True
        if "/" in entry:
            try:
                if ipaddress.ip_address(name) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def endpoint_for(host: str) -> Endpoint:
    """HTTPS with the host's certs.d files; plain HTTP for insecure or loopback hosts without certs.d."""
    if not HOST_RE.fullmatch(host):  # e.g. a token realm `https://../x`: certs.d/.. is not its folder
        raise RegistryError(f"{host[:100]!r} is not a registry host name",
                            "check the registry address (and the auth realm its 401 answers name)")
    folder = certs_d() / host
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    cas = tuple(str(f) for f in files if f.suffix == ".crt")
    certs = [f for f in files if f.suffix == ".cert"]
    client = next(((str(c), str(c.with_suffix(".key"))) for c in certs if c.with_suffix(".key").exists()),
                  None)
    if folder.is_dir() or not (is_loopback(host) or is_insecure(host)):
        return Endpoint(host, "https", cas, client)
    return Endpoint(host, "http")


def mirror_endpoint(url: str) -> Endpoint:
    """The endpoint of a mirror URL (`https://mirror.example.com`), its certs.d files included."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    found = endpoint_for(host)
    return found if scheme == "https" else Endpoint(host, "http")
