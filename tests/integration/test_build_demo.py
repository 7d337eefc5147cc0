"""The demo stack built for real: multi-arch indexes in a throwaway registry, children on parents."""

from __future__ import annotations

from pathlib import Path

import pytest
from python_on_whales import DockerClient

from engine.build.builder import BuildxBuilder
from engine.build.scheduler import SUCCEEDED
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.settings import BuildSettings
from engine.state.report import RunReport
from tests.integration.conftest import HOST_CA, run_in

PLATFORMS = {"linux/amd64", "linux/arm64"}
pytestmark = pytest.mark.timeout(2400)  # the module's first test also builds the demo (cold: QEMU)


@pytest.fixture(scope="module")
def demo_run(builder: BuildxBuilder, registry: str, repo_root: Path,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[api.Options, RunReport]:
    """One real build of the demo stack into the throwaway registry."""
    # the tools stack builds the SBOM generator the demo names (`sbom:`), first, in the same run
    options = api.Options(root=repo_root, targets=(Path("stacks/tools"), Path("stacks/demo")),
                          registry=f"{registry}/demo", state_dir=tmp_path_factory.mktemp("state"))
    return options, api.build(options, builder, BuildSettings(jobs=2, secrets=HOST_CA))


def test_every_node_builds_and_passes_its_smoke_test_on_both_arches(demo_run):
    _, report = demo_run
    failed = {n.node: n.error for n in report.nodes.values() if n.status != SUCCEEDED}
    assert failed == {}
    assert report.status == "succeeded"
    assert len(report.nodes) >= 8
    graph = api.load(demo_run[0])
    for node in report.nodes.values():
        expected = dict.fromkeys(graph.nodes[node.node].platforms, "passed")
        assert node.tests == expected, node.node
    both = [n for n in graph.nodes.values() if set(n.platforms) == PLATFORMS]
    assert len(both) >= 8


def test_every_tag_is_an_index_of_exactly_its_platforms(demo_run):
    options, report = demo_run
    graph = api.load(options)
    client = RegistryClient()
    for node in report.nodes.values():
        manifest = client.manifest(node.ref)
        assert manifest is not None, node.ref
        assert manifest.is_index, node.ref
        assert manifest.digest == node.digest
        assert set(manifest.platforms()) == set(graph.nodes[node.node].platforms), node.ref
    # the demo's one constrained node: the trigram chat model is amd64-only by a constraint
    assert graph.nodes["chat-3"].platforms == ("linux/amd64",)


def test_each_child_is_built_on_its_parents_exact_layers(demo_run):
    options, _ = demo_run
    graph = api.load(options)
    client = RegistryClient()
    children = [n for n in graph.nodes.values() if n.parent]
    assert children
    for child in children:
        parent = graph.nodes[child.parent]
        child_index = client.manifest(child.ref)
        parent_index = client.manifest(parent.ref)
        assert child_index and parent_index
        for platform, digest in child_index.platforms().items():
            child_layers = client.manifest(f"{child.repository}@{digest}").layers()
            parent_digest = parent_index.platforms()[platform]
            parent_layers = client.manifest(f"{parent.repository}@{parent_digest}").layers()
            assert child_layers[: len(parent_layers)] == parent_layers, (child.name, platform)
            assert len(child_layers) >= len(parent_layers)


def test_images_really_run_on_their_architecture(demo_run):
    _, report = demo_run
    docker = DockerClient()
    image = report.nodes["python-sdk"].ref.rsplit(":", 1)[0] + "@" + report.nodes["python-sdk"].digest
    assert run_in(docker, image, "linux/amd64", "uname", "-m").strip() == "x86_64"
    assert run_in(docker, image, "linux/arm64", "uname", "-m").strip() == "aarch64"


def test_child_labels_name_the_parents_digest(demo_run):
    _, report = demo_run
    docker = DockerClient()
    chat = report.nodes["chat-2"]
    image = chat.ref.rsplit(":", 1)[0] + "@" + chat.digest
    docker.pull(image, platform="linux/amd64", quiet=True)
    labels = docker.image.inspect(image).config.labels or {}
    assert labels["org.opencontainers.image.base.digest"] == report.nodes["numpy"].digest
    assert labels["org.stackbuild.node"] == "chat-2"


def test_labels_read_back_from_the_registry_describe_the_image(demo_run):
    _, report = demo_run
    client = RegistryClient()
    chat = report.nodes["chat-2"]
    for platform in ("linux/amd64", "linux/arm64"):
        config = client.image_config(chat.ref, platform)
        assert config is not None
        assert config["architecture"] == platform.split("/")[1]
        labels = config["config"]["Labels"]
        assert labels["org.stackbuild.node"] == "chat-2"
        assert labels["org.stackbuild.layer"] == "llm"
        assert labels["org.stackbuild.framework"] == "numpy"
        assert labels["org.stackbuild.framework_version"] == "2.2.6"
        assert labels["org.stackbuild.python"] == "3.11"
        assert labels["org.stackbuild.scope"] == "inference"
        assert labels["org.stackbuild.fingerprint"] == chat.fingerprint
        assert labels["org.opencontainers.image.base.digest"] == report.nodes["numpy"].digest
        assert labels["org.opencontainers.image.created"]
        assert labels["org.opencontainers.image.revision"]


def test_the_executor_image_meets_its_contract_on_every_platform(demo_run, capsys):
    from engine.cli import main as cli

    options, _ = demo_run
    code = cli.main(["check", "--root", str(options.root), "--registry", options.registry,
                     "--state-dir", str(options.state_dir), "--log-format", "json", "stacks/demo"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ymir" in out


def test_demo_provenance_names_the_registry_and_the_parent_on_both_platforms(demo_run):
    from tests.integration.provenance import statements  # one reader of attestations

    options, report = demo_run
    numpy = api.load(options).nodes["numpy"]
    parent_digest = report.nodes[numpy.parent].digest
    found = statements(RegistryClient(), numpy.ref)
    assert sorted(found) == sorted(PLATFORMS)
    for platform, statement in found.items():
        assert statement["subject"][0]["name"].startswith(
            f"pkg:docker/{numpy.repository.replace(':', '%3A', 1)}@sb-"), platform
        args = statement["predicate"]["invocation"]["parameters"]["args"]  # mode=max
        assert args["label:org.stackbuild.node"] == "numpy"
        assert args["label:org.opencontainers.image.base.digest"] == parent_digest
        assert any(material["digest"]["sha256"] == parent_digest.split(":", 1)[1]
                   for material in statement["predicate"]["materials"]), platform


def test_numpy_sbom_lists_numpy_and_debian_packages_on_both_platforms(demo_run):
    from engine.registry import intoto

    _, report = demo_run
    client = RegistryClient()
    numpy = report.nodes["numpy"]
    repository = numpy.ref.rsplit(":", 1)[0]
    index = client.manifest(numpy.ref)
    assert index is not None
    by_platform = intoto.by_platform(client, repository, index)
    assert set(by_platform) == PLATFORMS
    for platform, statements in by_platform.items():
        sbom = [s for s in statements if s.predicate_type == intoto.SPDX]
        assert len(sbom) == 1, platform
        packages = intoto.sbom_packages(intoto.read(client, repository, sbom[0]))
        assert packages["numpy"] == "2.2.6", platform
        assert packages["python3"].startswith("3.11"), platform


def test_every_demo_image_signed_then_verified(demo_run, tmp_path: Path, capsys, monkeypatch):
    import os
    import subprocess

    from engine.cli import main as cli

    options, _ = demo_run
    monkeypatch.setenv("COSIGN_PASSWORD", "demo-test")
    subprocess.run(["cosign", "generate-key-pair"], cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "COSIGN_PASSWORD": "demo-test"})
    common = ["--root", str(options.root), "--registry", options.registry, "--state-dir",
              str(options.state_dir), "--log-format", "json", "stacks/tools", "stacks/demo"]
    assert cli.main(["sign", "--key", str(tmp_path / "cosign.key"), *common]) == 0
    capsys.readouterr()
    code = cli.main(["verify", "--key", str(tmp_path / "cosign.pub"), *common])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "15 verified, 0 failed" in out
