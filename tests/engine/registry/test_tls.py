"""TLS as dockerd does it: an untrusted certificate fails at once naming certs.d; a CA there is trusted."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.errors import RegistryError
from engine.registry.client import RegistryClient, TransientRegistryError
from tests.loopback import QuietHandler, serving

DIGEST = "sha256:" + "cd" * 32


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA: (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (folder / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder / "server.crt", folder / "server.key"


@pytest.fixture
def tls_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path, list[str]]]:
    """An HTTPS registry on 127.0.0.1: (host, its certificate, the paths it was asked for)."""
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("STACKBUILD_CERTS_D", str(tmp_path / "certs.d"))
    asked: list[str] = []

    class Handler(QuietHandler):
        def do_HEAD(self) -> None:
            asked.append(self.path)
            self.answer(200, headers={"Docker-Content-Digest": DIGEST})

        do_GET = do_HEAD

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serving(Handler, tls=context) as served:
        yield served.host, cert, asked


def test_an_untrusted_certificate_fails_at_once_naming_certs_d(tls_registry: tuple[str, Path, list[str]],
                                                              tmp_path: Path) -> None:
    host, _, asked = tls_registry
    (tmp_path / "certs.d" / host).mkdir(parents=True)  # a folder without the CA: HTTPS, not trusted
    with pytest.raises(RegistryError) as caught:
        RegistryClient(attempts=5).digest(f"{host}/app:1")
    assert not isinstance(caught.value, TransientRegistryError)
    assert caught.value.message.startswith(
        f"GET https://{host}/v2/: the TLS certificate of {host} is not trusted")
    assert caught.value.hint.startswith(
        f"put the registry's CA certificate in {tmp_path}/certs.d/{host}/ca.crt")
    assert asked == []  # the handshake failed: no request was ever read


def test_a_ca_in_certs_d_is_trusted(tls_registry: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    host, cert, asked = tls_registry
    (tmp_path / "certs.d" / host).mkdir(parents=True)
    (tmp_path / "certs.d" / host / "ca.crt").write_bytes(cert.read_bytes())
    assert RegistryClient().digest(f"{host}/app:1") == DIGEST
    assert asked == ["/v2/", "/v2/app/manifests/1"]
