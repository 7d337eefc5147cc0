"""Secret hygiene: a git remote made safe to publish, and build-arg values made safe to log."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|KEY", re.IGNORECASE)
REDACTED = "***"
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)(?::[^@/]*)?@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$")
_NETWORK_SCHEMES = {"https", "http", "ssh", "git", "git+ssh", "ssh+git"}
_USER_SCHEMES = {"ssh", "git+ssh", "ssh+git"}  # a login name is part of the address, never a password


def public_source(remote: str) -> str:
    """The remote as it may be published: no password or token, no query; '' for a local path or an
    address that is not a network URL (a fresh clone's origin is a path: publish nothing)."""
    remote = remote.strip()
    if not remote or any(ord(char) < 32 or char.isspace() for char in remote):
        return ""
    if "://" not in remote:
        return _scp_like(remote)
    try:
        parts = urlsplit(remote)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in _NETWORK_SCHEMES or not parts.hostname:
        return ""
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    host += f":{port}" if port else ""
    user = parts.username if scheme in _USER_SCHEMES and parts.username else ""
    netloc = f"{user}@{host}" if user and not SECRET_NAME.search(user) else host
    return urlunsplit((scheme, netloc, parts.path, "", ""))


def _scp_like(remote: str) -> str:
    """`user@host:path` (ssh's short form): the user kept, a password (never valid there) dropped."""
    if remote.startswith(("/", ".", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", remote):
        return ""
    match = _SCP_LIKE.match(remote)
    if match is None:
        return ""
    user = match.group("user") or ""
    prefix = f"{user}@" if user and not SECRET_NAME.search(user) else ""
    return f"{prefix}{match.group('host')}:{match.group('path')}"


def looks_secret(name: str) -> bool:
    """Whether a build arg's name says its value is a secret (TOKEN, PASSWORD, SECRET, KEY)."""
    return SECRET_NAME.search(name) is not None


def secret_args(args: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """Names of the build args whose values must never be logged."""
    return tuple(name for name, _ in args if looks_secret(name))


def redacted_args(args: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The build args with the values of secret-looking ones replaced by ***."""
    return tuple((name, REDACTED if looks_secret(name) else value) for name, value in args)


def redact_text(text: str, values: tuple[str, ...]) -> str:
    """text with every occurrence of the given values (non-empty ones) replaced by ***."""
    for value in sorted({v for v in values if v}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
