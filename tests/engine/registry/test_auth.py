"""engine.registry.auth and the client's logins: challenges, Basic, Bearer tokens per scope and
their expiry, against a tiny in-process registry with its own token endpoint."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import engine.registry.auth
from engine.errors import RegistryError
from engine.registry.auth import Challenge, parse_challenge, token_of
from engine.registry.client import RegistryClient
from tests.loopback import QuietHandler, serving

DIGEST = "sha256:" + "ab" * 32
MANIFEST = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}


@pytest.mark.parametrize(("header", "expected"), [
    ('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
     Challenge("bearer", {"realm": "https://auth.example/token", "service": "registry.example",
                          "scope": "repository:a/b:pull,push"})),
    ('Basic realm="Registry Realm"', Challenge("basic", {"realm": "Registry Realm"})),
    ('bearer realm="https://a/t", service=reg , error="invalid_token"',
     Challenge("bearer", {"realm": "https://a/t", "service": "reg", "error": "invalid_token"})),
    ('Bearer realm="x\\"y",scope="a,b,c"', Challenge("bearer", {"realm": 'x"y', "scope": "a,b,c"})),
    ("Basic", Challenge("basic", {})),
])
def test_parse_challenge(header: str, expected: Challenge) -> None:
    assert parse_challenge(header) == expected


def test_token_expires_a_little_before_it_says() -> None:
    assert token_of(b'{"token": "t", "expires_in": 300}', 1000.0).expires_at == 1290.0
    assert token_of(b'{"access_token": "t", "expires_in": 20}', 0.0).expires_at == 18.0
    assert token_of(b'{"token": "t"}', 0.0).expires_at == 54.0  # 60 s when the server says nothing
    with pytest.raises(RegistryError, match="without a token"):
        token_of(b'{"expires_in": 20}', 0.0)


@dataclass
class AuthRegistry:
    """A registry that wants Basic (user ann, password pw) or Bearer tokens from its /token endpoint."""

    host: str
    scheme: str = "bearer"
    anonymous_pull: bool = False  # tokens for pull scopes without a login, as Docker Hub gives
    forms: list[dict[str, str]] = field(default_factory=list)  # OAuth POSTs to /token
    issued: list[str] = field(default_factory=list)  # scope of every token handed out
    revoked: set[str] = field(default_factory=set)
    paths: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization) of each request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def challenge(self, scope: str) -> str:
        if self.scheme == "basic":
            return 'Basic realm="test"'
        return (f'Bearer realm="http://{self.host}/token",service="test-registry"'
                + (f',scope="{scope}"' if scope else ""))

    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.paths.append((path, authorization))
        url = urllib.parse.urlsplit(path)
        if url.path == "/token":
            return self.token(dict(urllib.parse.parse_qsl(url.query)), authorization)
        scope = "" if url.path == "/v2/" else f"repository:{url.path.split('/')[2]}:pull"
        if not self.allowed(authorization, scope):
            return 401, {"WWW-Authenticate": self.challenge(scope)}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        if url.path == "/v2/":
            return 200, {}, b"{}"
        return 200, {"Content-Type": MANIFEST["mediaType"], "Docker-Content-Digest": DIGEST}, \
            json.dumps(MANIFEST).encode()

    def allowed(self, authorization: str, scope: str) -> bool:
        if self.scheme == "basic":
            return authorization == "Basic " + base64.b64encode(b"ann:pw").decode()
        token = authorization.removeprefix("Bearer ")
        return token not in self.revoked and token.startswith("token-") and token.endswith(f"|{scope}")

    def token(self, query: dict[str, str], authorization: str) -> tuple[int, dict[str, str], bytes]:
        anonymous = self.anonymous_pull and not authorization and query.get("scope", "").endswith(":pull")
        if authorization != "Basic " + base64.b64encode(b"ann:pw").decode() and not anonymous:
            return 401, {}, b"{}"
        with self.lock:
            self.issued.append(query.get("scope", ""))
            token = f"token-{len(self.issued)}|{query.get('scope', '')}"
        body = json.dumps({"token": token, "expires_in": 60}).encode()
        return 200, {"Content-Type": "application/json"}, body


@pytest.fixture
def logged_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DOCKER_CONFIG folder, empty until a test logs in."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    return tmp_path


def login(folder: Path, host: str, user: str = "ann", password: str = "pw") -> None:
    entry = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    (folder / "config.json").write_text(json.dumps({"auths": {host: entry}}))


@pytest.fixture
def server() -> Iterator[AuthRegistry]:
    state: AuthRegistry

    class Handler(QuietHandler):
        def _reply(self, with_body: bool) -> None:
            status, headers, body = state.answer(self.path, self.headers.get("Authorization", ""))
            self.answer(status, body, headers, with_body)

        def do_GET(self) -> None:
            self._reply(True)

        def do_HEAD(self) -> None:
            self._reply(False)

        def do_POST(self) -> None:
            form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
            state.forms.append(form)
            ok = form.get("grant_type") == "refresh_token" and form.get("refresh_token") == "refresh-me"
            status, _, body = state.token(form, "Basic " + base64.b64encode(b"ann:pw").decode() if ok else "")
            self.answer(status, body)

    with serving(Handler) as served:
        state = AuthRegistry(served.host)
        yield state


def test_basic_auth_from_docker_config(server: AuthRegistry, logged_in: Path) -> None:
    server.scheme = "basic"
    login(logged_in, server.host)
    client = RegistryClient()
    for _ in range(3):
        assert client.digest(f"{server.host}/app:1") == DIGEST
    assert client.requests == {"ping": 1, "HEAD": 3}  # the ping learns Basic; no HEAD gets a 401


def test_one_token_per_scope_reused(server: AuthRegistry, logged_in: Path) -> None:
    login(logged_in, server.host)
    client = RegistryClient()
    for _ in range(3):
        assert client.digest(f"{server.host}/app:1") == DIGEST
        assert client.digest(f"{server.host}/other:1") == DIGEST
    assert server.issued == ["repository:app:pull", "repository:other:pull"]
    assert client.requests == {"ping": 1, "token": 2, "HEAD": 6}
    assert all(auth.startswith("Bearer token-") for path, auth in server.paths if "/manifests/" in path)


def test_an_expired_token_is_fetched_again(server: AuthRegistry, logged_in: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    login(logged_in, server.host)
    clock = [1000.0]
    monkeypatch.setattr(engine.registry.auth, "_now", lambda: clock[0])
    client = RegistryClient()
    client.digest(f"{server.host}/app:1")
    clock[0] += 53.0  # the 60 s token is still used until 54 s
    client.digest(f"{server.host}/app:1")
    assert len(server.issued) == 1
    clock[0] += 2.0
    client.digest(f"{server.host}/app:1")
    assert server.issued == ["repository:app:pull"] * 2


def test_a_token_refused_mid_run_is_refreshed_once(server: AuthRegistry, logged_in: Path) -> None:
    login(logged_in, server.host)
    client = RegistryClient()
    client.digest(f"{server.host}/app:1")
    server.revoked.add("token-1|repository:app:pull")
    assert client.digest(f"{server.host}/app:1") == DIGEST
    assert len(server.issued) == 2
    assert client.requests["HEAD"] == 3  # the refused one and its retry with the new token


def test_without_a_login_a_token_refusal_says_docker_login(server: AuthRegistry, logged_in: Path) -> None:
    with pytest.raises(RegistryError) as caught:
        RegistryClient().digest(f"{server.host}/app:1")
    assert caught.value.message == (f"{server.host} refused to grant access to repository:app:pull "
                                    "(token server answered HTTP 401)")
    assert caught.value.hint == f"run `docker login {server.host}`"


def test_a_wrong_password_says_log_in_again_and_never_shows_it(server: AuthRegistry, logged_in: Path) -> None:
    server.scheme = "basic"
    login(logged_in, server.host, password="wrong-s3cret")
    with pytest.raises(RegistryError) as caught:
        RegistryClient().digest(f"{server.host}/app:1")
    assert caught.value.message == f"HEAD http://{server.host}/v2/app/manifests/1: HTTP 401 unauthorized"
    assert caught.value.hint == f"the saved credentials were refused: run `docker login {server.host}` again"
    assert "s3cret" not in str(caught.value)


def test_docker_hub_names_go_through_the_mirror(server: AuthRegistry, logged_in: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    server.scheme = "basic"
    login(logged_in, server.host)
    (tmp_path / "daemon.json").write_text(json.dumps({"registry-mirrors": [f"http://{server.host}"]}))
    monkeypatch.setenv("STACKBUILD_DAEMON_JSON", str(tmp_path / "daemon.json"))
    assert RegistryClient().digest("openeuler/openeuler:22.03-lts-sp3") == DIGEST
    assert ("/v2/openeuler/openeuler/manifests/22.03-lts-sp3",
            "Basic " + base64.b64encode(b"ann:pw").decode()) in server.paths


def test_public_pulls_get_anonymous_tokens(server: AuthRegistry, logged_in: Path) -> None:
    server.anonymous_pull = True
    client = RegistryClient()
    assert client.digest(f"{server.host}/app:1") == DIGEST
    assert client.requests == {"ping": 1, "token": 1, "HEAD": 1}
    token_requests = [auth for path, auth in server.paths if path.startswith("/token")]
    assert token_requests == [""]  # no Authorization header without a login


def test_an_identity_token_is_exchanged_by_oauth_post(server: AuthRegistry, logged_in: Path) -> None:
    (logged_in / "config.json").write_text(json.dumps(
        {"auths": {server.host: {"identitytoken": "refresh-me"}}}))
    assert RegistryClient().digest(f"{server.host}/app:1") == DIGEST
    assert server.forms == [{"grant_type": "refresh_token", "refresh_token": "refresh-me",
                             "service": "test-registry", "scope": "repository:app:pull",
                             "client_id": "stackbuild"}]

