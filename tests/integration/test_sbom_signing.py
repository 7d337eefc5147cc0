"""SBOMs from our own generator, cosign signatures by digest and `stackbuild verify`, for real.

A tools stack builds the repository's SBOM generator (stacks/tools/sbom-generator, copied) on the
Debian root `make setup` makes; a second stack names it (`sbom: {generator: ...}`) and builds an
image with one Python package (a dist-info, as pip writes it) and a child of it, for both platforms.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.cli.main import main
from engine.registry import intoto
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.settings import BuildSettings
from tests.integration.conftest import _unavailable

PLATFORMS = ("linux/amd64", "linux/arm64")
PASSWORD = "test-only-password"
pytestmark = pytest.mark.timeout(900)

TOOLS = """\
stack: sbt-tools
registry: localhost:5000/unused
platforms: [linux/amd64, linux/arm64]
nodes:
  sbt-os: {kind: os, dockerfile: os/Dockerfile, image: sbt, tag: os}
  sbt-gen: {kind: tool, parent: sbt-os, dockerfile: gen/Dockerfile, image: sbt, tag: gen}
"""
APP = """\
stack: sbt-app
registry: localhost:5000/unused
platforms: [linux/amd64, linux/arm64]
sbom: {generator: "sbt:gen"}
nodes:
  sbt-app: {kind: sdk, dockerfile: os/Dockerfile, image: sbt, tag: app}
  sbt-leaf: {kind: framework, parent: sbt-app, dockerfile: leaf/Dockerfile, image: sbt, tag: leaf}
"""
APP_DOCKERFILE = """\
FROM scratch
ARG TARGETARCH
ADD rootfs/${TARGETARCH}.tar.gz /
RUN mkdir -p /usr/lib/python3/dist-packages/tinypkg-1.2.3.dist-info \\
 && printf 'Metadata-Version: 2.1\\nName: tinypkg\\nVersion: 1.2.3\\n' \\
    > /usr/lib/python3/dist-packages/tinypkg-1.2.3.dist-info/METADATA
"""


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _write_repo(root: Path, repo_root: Path) -> None:
    """Two stack files, the real generator's files, and the Debian root file systems."""
    rootfs = repo_root / "stacks/demo/os/rootfs"
    if not all((rootfs / f"{arch}.tar.gz").is_file() for arch in ("amd64", "arm64")):
        _unavailable(f"no Debian root file systems in {rootfs}")
    tools, app = root / "stacks/tools", root / "stacks/app"
    (tools / "stack.yaml").parent.mkdir(parents=True)
    (tools / "stack.yaml").write_text(TOOLS, encoding="utf-8")
    shutil.copytree(repo_root / "stacks/tools/sbom-generator", tools / "gen")
    for folder, dockerfile in ((tools / "os", (repo_root / "stacks/demo/os/Dockerfile").read_text()),
                               (app / "os", APP_DOCKERFILE)):
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        for arch in ("amd64", "arm64"):
            _link_or_copy(rootfs / f"{arch}.tar.gz", folder / "rootfs" / f"{arch}.tar.gz")
    (app / "stack.yaml").write_text(APP, encoding="utf-8")
    (app / "leaf").mkdir()
    (app / "leaf/Dockerfile").write_text("FROM parent\nCOPY leaf.txt /leaf.txt\n", encoding="utf-8")
    (app / "leaf/leaf.txt").write_text("leaf\n", encoding="utf-8")


@pytest.fixture(scope="module")
def built(builder: BuildxBuilder, registry: str, repo_root: Path,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """The two stacks built into the throwaway registry: (common CLI arguments, key folder)."""
    root = tmp_path_factory.mktemp("supply")
    _write_repo(root, repo_root)
    prefix = f"{registry}/supply"
    state = root / "state"
    options = api.Options(root=root, targets=(Path("stacks/tools"), Path("stacks/app")), registry=prefix,
                          state_dir=state)
    report = api.build(options, builder, BuildSettings(jobs=2, test=False))
    assert report.status == "succeeded", {n.node: n.error for n in report.nodes.values()}
    keys = root / "keys"
    keys.mkdir()
    if shutil.which("cosign") is None:
        _unavailable("cosign is not installed")
    subprocess.run(["cosign", "generate-key-pair"], cwd=keys, check=True, capture_output=True,
                   env={**os.environ, "COSIGN_PASSWORD": PASSWORD})
    common = ["--root", str(root), "--registry", prefix, "--state-dir", str(state),
              "stacks/tools", "stacks/app"]
    return common, keys


def _statements(client: RegistryClient, ref: str) -> dict[str, list[intoto.Statement]]:
    index = client.manifest(ref)
    assert index is not None and index.is_index, ref
    return intoto.by_platform(client, ref.rsplit(":", 1)[0], index)


def test_each_platform_image_has_an_sbom_listing_debian_and_python_packages(built, registry: str) -> None:
    client = RegistryClient()
    ref = f"{registry}/supply/sbt:app"
    by_platform = _statements(client, ref)
    assert sorted(by_platform) == list(PLATFORMS)
    for platform, statements in by_platform.items():
        sbom = [s for s in statements if s.predicate_type == intoto.SPDX]
        assert len(sbom) == 1, platform
        statement = intoto.read(client, ref.rsplit(":", 1)[0], sbom[0])
        assert statement["predicate"]["spdxVersion"] == "SPDX-2.3"
        packages = intoto.sbom_packages(statement)
        assert packages["tinypkg"] == "1.2.3", platform
        assert packages["bash"].startswith("5."), platform  # Debian 12's bash, with its Debian version
        assert packages["libc6"].startswith("2.36-"), platform
    # the generator itself has no SBOM (it cannot scan the image it is built on) but a provenance
    generator = _statements(client, f"{registry}/supply/sbt:gen")
    assert sorted(generator) == list(PLATFORMS)
    for platform, found in generator.items():
        kinds = [s.predicate_type for s in found]
        assert intoto.SPDX not in kinds, platform
        assert any(kind.startswith(intoto.SLSA_PREFIX) for kind in kinds), (platform, kinds)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_sign_then_verify_passes_and_tampering_fails_naming_node_and_fault(
        built, registry: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    common, keys = built
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    code, out = _cli(capsys, "sign", "--key", str(keys / "cosign.key"), *common)
    assert code == 0, out
    signed = [line for line in out.splitlines() if line.startswith("signed ")]
    assert len(signed) == 4, out
    assert all("@sha256:" in line for line in signed)  # by digest, never a tag
    verify = ["verify", "--key", str(keys / "cosign.pub"), *common]
    code, out = _cli(capsys, *verify)
    assert code == 0, out
    assert "4 verified, 0 failed" in out

    client = RegistryClient()
    repository = f"{registry}/supply/sbt"
    app, leaf = client.digest(f"{repository}:app"), client.digest(f"{repository}:leaf")
    assert app and leaf
    try:
        client.tag(f"{repository}@{app}", f"{repository}:leaf")  # re-point leaf's tag to its parent
        code, out = _cli(capsys, *verify)
        assert code == 1, out
        assert "FAIL  sbt-leaf" in out
        assert "an image of node sbt-app, not of sbt-leaf" in out
        assert "provenance does not name parent sbt-app" in out
        assert "3 verified, 1 failed" in out
        assert "Traceback" not in out
    finally:
        client.tag(f"{repository}@{leaf}", f"{repository}:leaf")

    _delete_signature(registry, "supply/sbt", app)
    code, out = _cli(capsys, *verify)
    assert code == 1, out
    assert "FAIL  sbt-app                  signature: no valid signature for the key" in out
    assert "3 verified, 1 failed" in out


def test_verify_with_another_key_fails_for_every_node(built, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    common, _ = built
    subprocess.run(["cosign", "generate-key-pair"], cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "COSIGN_PASSWORD": "other"})
    code, out = _cli(capsys, "verify", "--key", str(tmp_path / "cosign.pub"), *common)
    assert code == 1
    assert out.count("signature: no valid signature for the key") == 4, out


def _delete_signature(registry: str, repository: str, digest: str) -> None:
    """Delete the cosign signature manifest of digest (tag sha256-<hex>.sig) from the registry."""
    base = f"http://{registry.replace('localhost', '127.0.0.1')}/v2/{repository}/manifests"
    tag = digest.replace(":", "-") + ".sig"
    head = urllib.request.Request(f"{base}/{tag}", method="HEAD", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(head) as response:
        signature = response.headers["Docker-Content-Digest"]
    with urllib.request.urlopen(urllib.request.Request(f"{base}/{signature}", method="DELETE")) as response:
        assert response.status == 202


def test_build_sign_signs_every_published_image_after_promotion(
        built, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    common, keys = built
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    code, out = _cli(capsys, "build", "--no-test", "--sign", str(keys / "cosign.key"), *common)
    assert code == 0, out
    assert len([line for line in out.splitlines() if line.startswith("signed ")]) == 4, out
    code, out = _cli(capsys, "verify", "--key", str(keys / "cosign.pub"), *common)
    assert code == 0, out
    assert "4 verified, 0 failed" in out
