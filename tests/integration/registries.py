"""Throwaway real registries for the auth tests: TLS with a test CA, htpasswd users, a token server,
and a proxy that hides Docker-Content-Digest. Each registry has its own config, data and port."""

from __future__ import annotations

import base64
import datetime
import http.client
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.integration.janitor import dies_with_this_thread, record_port, undone_if_killed
from tests.loopback import QuietHandler, Served

CERTS_D = Path("/etc/docker/certs.d")
SERVICE = "stackbuild-test-registry"
ISSUER = "stackbuild-test-issuer"
JSON = {"Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(path: Path, cert: x509.Certificate, key: rsa.RSAPrivateKey | None = None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption()))


def _certificate(subject: str, key: rsa.RSAPrivateKey, issuer: tuple[str, rsa.RSAPrivateKey] | None,
                 ca: bool, hosts: tuple[str, ...] = ()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(_name(issuer[0] if issuer else subject)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if hosts:
        names: list[x509.GeneralName] = [x509.DNSName("localhost")]
        names += [x509.IPAddress(ipaddress.ip_address(h)) for h in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    """A test CA and a server certificate it signed for localhost and 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, server_key = _key(), _key()
    ca = _certificate("stackbuild test CA", ca_key, None, ca=True)
    server = _certificate("localhost", server_key, ("stackbuild test CA", ca_key), ca=False,
                          hosts=("127.0.0.1",))
    _write(folder / "ca.crt", ca)
    _write(folder / "server.crt", server, server_key)
    return Pki(folder / "ca.crt", folder / "server.crt", folder / "server.key")


@dataclass
class TokenServer:
    """A distribution token server: Basic-checks one user, signs RS256 JWTs carrying its cert in x5c."""

    user: str
    password: str
    lifetime_s: int = 300
    registry_lifetime_s: int = 300  # how long the registry accepts a token (it adds 60 s of leeway)
    issued: list[str] = field(default_factory=list)
    port: int = 0
    key: rsa.RSAPrivateKey = field(default_factory=_key)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.cert = _certificate("stackbuild test token signer", self.key, None, ca=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def write_root(self, path: Path) -> Path:
        _write(path, self.cert)
        return path

    def answer(self, query: dict[str, list[str]], authorization: str) -> tuple[int, bytes]:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if authorization != expected:
            return 401, b'{"details":"wrong or no credentials"}'
        scope = " ".join(query.get("scope", []))  # BuildKit asks for several scopes at once
        with self.lock:
            self.issued.append(scope)
        body = {"token": self.sign(scope), "expires_in": self.lifetime_s}
        return 200, json.dumps(body).encode()

    def sign(self, scopes: str) -> str:
        now = int(time.time())
        access = []
        for scope in scopes.split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        header = {"typ": "JWT", "alg": "RS256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": ISSUER, "sub": self.user, "aud": SERVICE, "iat": now, "nbf": now - 10,
                  "exp": now + self.registry_lifetime_s - 60, "jti": f"{now}-{len(self.issued)}",
                  "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@contextmanager
def serving(tokens: TokenServer) -> Iterator[TokenServer]:
    """Run the token server on a free loopback port (POST answers 405: clients fall back to GET)."""
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            status, body = tokens.answer(query, self.headers.get("Authorization", ""))
            self.answer(status, body, JSON)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.answer(405, b"{}", JSON)

    with Served(Handler) as served:
        tokens.port = served.port
        yield tokens


def htpasswd(path: Path, user: str, password: str) -> Path:
    path.write_text(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    return path


@contextmanager
def secure_registry(folder: Path, pki: Pki, auth: str) -> Iterator[str]:
    """docker-registry over TLS with the given `auth:` YAML block; trusted by dockerd through certs.d.

    Yields `localhost:PORT`; the certs.d folder is removed again afterwards."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (run `make setup`)")
    port = free_port()
    host = f"localhost:{port}"
    record_port(port)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {pki.cert}\n    key: {pki.key}\n"
        f"{auth}", encoding="utf-8")
    trusted = CERTS_D / host
    with undone_if_killed("folder", str(trusted)):
        try:
            trusted.mkdir(parents=True, exist_ok=True)
            shutil.copy(pki.ca, trusted / "ca.crt")
            log = (folder / "registry.log").open("wb")
            process = subprocess.Popen(dies_with_this_thread([binary, "serve", str(config)]), stdout=log,
                                       stderr=log)
            try:
                _wait_for(f"https://127.0.0.1:{port}/v2/", pki.ca, folder / "registry.log")
                yield host
            finally:
                process.terminate()
                process.wait(timeout=10)
        finally:
            shutil.rmtree(trusted, ignore_errors=True)


def _wait_for(url: str, ca: Path, log: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1, context=context).close()
            return
        except urllib.error.HTTPError:  # 401: up, wanting a login
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"registry did not start; see {log}")


def basic_auth(users: Path) -> str:
    return f"auth:\n  htpasswd:\n    realm: stackbuild-test\n    path: {users}\n"


def token_auth(tokens: TokenServer, root: Path) -> str:
    return (f"auth:\n  token:\n    realm: {tokens.realm}\n    service: {SERVICE}\n"
            f"    issuer: {ISSUER}\n    rootcertbundle: {root}\n")


def docker_login(config: Path, host: str, user: str, password: str) -> subprocess.CompletedProcess[str]:
    """A real `docker login` into the DOCKER_CONFIG folder config."""
    return subprocess.run(["docker", "login", host, "-u", user, "--password-stdin"], input=password,
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "DOCKER_CONFIG": str(config)})


class DigestHidingProxy:
    """A plain-HTTP proxy in front of a registry that drops Docker-Content-Digest from every answer.

    Written for the test alone (no engine code): each request is forwarded once on a new connection.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                connection = http.client.HTTPConnection(proxy.upstream, timeout=30)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("docker-content-digest", "content-length", "connection",
                                               "transfer-encoding"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    connection.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

        self.served = Served(Handler)
        self.host = self.served.host

    def __enter__(self) -> DigestHidingProxy:
        self.served.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.served.stop()
