"""Registry authentication: `WWW-Authenticate` challenges, Basic, and Bearer tokens cached per scope."""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from engine.errors import RegistryError
from engine.registry.credentials import Credentials, credentials_for
from engine.registry.endpoints import Endpoint, endpoint_for
from engine.registry.failures import TransientRegistryError, retry_after
from engine.registry.transport import Response, Transport

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?')
_TOKEN = re.compile(r"[\x21-\x7e]+")
DEFAULT_TOKEN_LIFETIME_S = 60  # what the distribution spec says to assume without expires_in
CLIENT_ID = "stackbuild"


class TokenRefused(RegistryError):
    """The token server refused the credentials (or their absence): fixed by `docker login`."""

    exit_code = 2


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header: scheme (lower case) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str) -> Challenge:
    """`Bearer realm="https://a/token",service="reg",scope="repository:x:pull,push"` → Challenge."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if not match or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        position = match.end()
    return Challenge(scheme.lower(), params)


@dataclass(frozen=True)
class Token:
    """A bearer token and the monotonic time after which it is no longer used."""

    value: str = field(repr=False)
    expires_at: float

    def fresh(self, now: float) -> bool:
        return now < self.expires_at


def token_of(body: bytes, now: float) -> Token:
    """The token in a token server's JSON answer, expiring a little before it says."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    value = answer.get("token") or answer.get("access_token") or ""
    if not value:
        raise RegistryError("the token server answered without a token", "check the registry's auth setup")
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):  # it goes into a header as it is
        raise RegistryError("the token server answered with a token that is not a string of visible "
                            "ASCII characters", "check the registry's auth setup")
    lifetime = _lifetime(answer.get("expires_in"))
    return Token(value, now + lifetime - min(10.0, lifetime / 10))


def _lifetime(expires_in: object) -> float:
    """Seconds a token lives: expires_in when it is a positive number, else the spec's default."""
    try:
        lifetime = float(expires_in)  # type: ignore[arg-type]  # whatever the JSON held
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME_S
    return lifetime if 0 < lifetime < math.inf else DEFAULT_TOKEN_LIFETIME_S


def _now() -> float:
    """The clock tokens expire by (monotonic; replaced in tests)."""
    return time.monotonic()


def basic(credentials: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()


class Authorizer:
    """Authorization headers per registry host and scope: learns each host's challenge once, fetches a
    token per scope and reuses it until it expires; reads credentials once per host."""

    def __init__(self, transport: Transport, count: Callable[[str], None]) -> None:
        self.transport, self.count = transport, count  # count("token") for every token request
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str], Token] = {}
        self._credentials: dict[str, Credentials | None] = {}
        self._lock = threading.Lock()
        self._fetching: dict[tuple[str, str], threading.Lock] = {}

    def knows(self, host: str) -> bool:
        return host in self._challenges

    def learn(self, host: str, header: str | None) -> None:
        """Remember host's challenge (none: no auth) from a 401 or a `/v2/` answer."""
        with self._lock:
            self._challenges[host] = parse_challenge(header) if header else Challenge("")

    def forget(self, host: str, scope: str) -> None:
        """Drop a token the registry refused (expired early, revoked)."""
        with self._lock:
            self._tokens.pop((host, scope), None)

    def header(self, host: str, scope: str) -> str | None:
        """The Authorization value for a request to host needing scope, or None to go anonymous."""
        challenge = self._challenges.get(host, Challenge(""))
        if challenge.scheme == "basic":
            found = self.credentials(host)
            return basic(found) if found and found.password else None
        if challenge.scheme != "bearer":
            return None
        key = (host, scope)
        with self._lock:
            lock = self._fetching.setdefault(key, threading.Lock())
        with lock:
            token = self._tokens.get(key)
            if token is None or not token.fresh(_now()):
                token = self._fetch_token(host, challenge, scope)
                with self._lock:
                    self._tokens[key] = token
        return f"Bearer {token.value}"

    def credentials(self, host: str) -> Credentials | None:
        with self._lock:
            if host in self._credentials:
                return self._credentials[host]
        found = credentials_for(host)
        with self._lock:
            self._credentials[host] = found
        return found

    def _fetch_token(self, host: str, challenge: Challenge, scope: str) -> Token:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise RegistryError(f"{host} asks for a token without a usable realm ({realm!r})",
                                "check the registry's auth setup")
        service = challenge.params.get("service", "")
        found = self.credentials(host)
        self.count("token")
        started = _now()
        answer = self._ask_token(realm, service, scope, found)
        if answer.status in (401, 403):
            how = f"run `docker login {host}` again" if found else f"run `docker login {host}`"
            raise TokenRefused(f"{host} refused to grant access to {scope or 'the registry'} "
                                f"(token server answered HTTP {answer.status})", how)
        if answer.status == 429 or answer.status >= 500:
            raise TransientRegistryError(f"token server of {host}: HTTP {answer.status}",
                                         retry_after(answer.headers.get("retry-after", "")))
        if answer.status != 200:
            raise RegistryError(f"token server of {host}: HTTP {answer.status}",
                                "check the registry's auth setup")
        return token_of(answer.body, started)

    def _ask_token(self, realm: str, service: str, scope: str, found: Credentials | None) -> Response:
        """An identity token is exchanged by OAuth POST; a password (or nothing) goes by GET."""
        scheme, _, rest = realm.partition("://")
        where = endpoint_for(rest.split("/", 1)[0])
        endpoint = Endpoint(where.host, scheme, where.ca_files, where.client_cert)
        if found and found.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": found.identity_token,
                    "service": service, "scope": scope, "client_id": CLIENT_ID}
            return self.transport.send(endpoint, "POST", realm, {}, form=form)
        query = urlencode({k: v for k, v in (("service", service), ("scope", scope)) if v})
        headers = {"Authorization": basic(found)} if found and found.password else {}
        return self.transport.send(endpoint, "GET", f"{realm}{'&' if '?' in realm else '?'}{query}", headers)
