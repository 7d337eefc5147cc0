"""`stackbuild export meta` against the real buildx: each tag folder builds the way EulerPublisher builds it.

EulerPublisher (eulerpublisher/container/app/app.py) runs `docker buildx build --platform … -t TAG .` in
the folder of the Dockerfile meta.yml names, with no build args; so a child's folder must start FROM
its parent's published tag and carry its build args as ARG defaults.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import yaml

from engine.cli import main as cli
from engine.registry.client import RegistryClient
from engine.registry.retryproxy import RetryProxy

TINY = """\
    stack: tiny
    registry: localhost:5000/unused
    platforms: [linux/amd64, linux/arm64]
    nodes:
      root: {kind: os, tag: "1-oe2403lts", args: {WHO: alpha, GREETING: "hello \\"x\\" $HOME a\\\\b"},
             attrs: {os: 2403lts, os_release: 24.03-lts}}
      leaf: {kind: framework, parent: root, tag: "2-oe2403lts", args: {WHAT: beta}, platforms: [linux/arm64]}
"""


def _write_tiny(root: Path) -> None:
    stack = root / "stacks" / "tiny"
    for name, dockerfile in {
        "root": "FROM scratch\nARG HOME=/root\nARG WHO\nARG GREETING\nCOPY ${WHO}.txt /etc/who\n"
                "LABEL greeting=\"${GREETING}\"\n",
        "leaf": "FROM parent\nARG WHAT=unset\nCOPY ${WHAT}.txt /opt/what\n",
    }.items():
        (stack / name).mkdir(parents=True)
        (stack / name / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    for name, text in {"root/alpha.txt": "alpha\n", "root/other.txt": "no\n", "leaf/beta.txt": "beta\n",
                       "leaf/unset.txt": "the default\n"}.items():
        (stack / name).write_text(text, encoding="utf-8")
    (stack / "stack.yaml").write_text(textwrap.dedent(TINY), encoding="utf-8")


def _buildx(folder: Path, *args: str) -> None:
    """docker buildx build in folder, as EulerPublisher does it (no build args)."""
    result = subprocess.run(["docker", "buildx", "build", *args, "."], cwd=folder, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def test_exported_folders_build_standalone_in_eulerpublishers_way(
        builder: object, registry: str, tmp_path: Path) -> None:
    root, out = tmp_path / "repo", tmp_path / "meta"  # the output lies outside the repository
    _write_tiny(root)
    with RetryProxy(registry.replace("localhost:", "127.0.0.1:", 1)) as proxy:
        prefix = f"{proxy.host}/metaexp"
        assert cli.main(["export", "meta", "--root", str(root), "--registry", prefix, "--out", str(out)]) == 0
        metas = {name: yaml.safe_load((out / "tiny" / name / "meta.yml").read_text(encoding="utf-8"))
                 for name in ("root", "leaf")}
        assert metas == {"root": {"1-oe2403lts": {"path": "1/24.03-lts/Dockerfile"}},
                         "leaf": {"2-oe2403lts": {"path": "2/24.03-lts/Dockerfile", "arch": "aarch64"}}}
        for name, row in (("root", "| [1-oe2403lts](1/24.03-lts/Dockerfile) | 24.03-lts | amd64, arm64 |"),
                          ("leaf", "| [2-oe2403lts](2/24.03-lts/Dockerfile) | leaf on 24.03-lts | arm64 |")):
            readme = (out / "tiny" / name / "README.md").read_text(encoding="utf-8")  # links what is built
            assert row in readme and f"docker pull {prefix}/{name}:{{Tag}}" in readme
        _buildx(out / "tiny" / "root" / "1" / "24.03-lts", "--platform", "linux/amd64,linux/arm64", "--push",
                "-t", f"{prefix}/root:1-oe2403lts")
        leaf = out / "tiny" / "leaf" / "2" / "24.03-lts"
        _buildx(leaf, "--platform", "linux/arm64", "--push", "-t", f"{prefix}/leaf:2-oe2403lts")
        files = tmp_path / "files"
        _buildx(leaf, "--platform", "linux/arm64", "--output", f"type=local,dest={files}")
    assert (files / "etc" / "who").read_text(encoding="utf-8") == "alpha\n"  # the parent's, by its ARG
    assert (files / "opt" / "what").read_text(encoding="utf-8") == "beta\n"  # the node's arg, not the default
    client = RegistryClient()
    root_index = client.manifest(f"{registry}/metaexp/root:1-oe2403lts")
    leaf_index = client.manifest(f"{registry}/metaexp/leaf:2-oe2403lts")
    assert root_index is not None and leaf_index is not None
    root_image = client.manifest(f"{registry}/metaexp/root@{root_index.platforms()['linux/arm64']}")
    leaf_image = client.manifest(f"{registry}/metaexp/leaf@{leaf_index.platforms()['linux/arm64']}")
    assert root_image is not None and leaf_image is not None
    assert leaf_image.layers()[: len(root_image.layers())] == root_image.layers()  # FROM the parent's tag
    config = client.image_config(f"{registry}/metaexp/root:1-oe2403lts", "linux/amd64")
    assert config is not None  # the arg as --build-arg gives it: quotes, $ and \ taken literally
    assert config["config"]["Labels"]["greeting"] == 'hello "x" $HOME a\\b'
