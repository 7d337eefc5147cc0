"""A `--no-secrets` run on the real engine leaves nothing a run with the secrets reuses: no image under
the content tag that run looks up, and no layer cache in the node's registry cache ref.

BuildKit's cache key of a `RUN --mount=type=secret` step leaves the secret out, so a step a build
without the secret ran is a cache hit for a build with it, wherever that cache is: in the registry,
or in the builder's own local cache. The tool keeps the first clear; the second stays (README,
Secrets: untrusted runs go to their own builder). This machine has one builder, so the trusted run
here stands for one on another builder: its commit is a new one, and the secret step reads
SOURCE_DATE_EPOCH (the commit's time, which no fingerprint holds), so that step is new to the local
cache while the node's fingerprint, and so its content tag, stay as they were.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.settings import BuildSettings
from graph.model.secrets import SecretPolicy
from tests.integration.rootrepo import root_repo

QUIET = BuildSettings(jobs=1, test=False)
STACK = """\
stack: kept
registry: localhost:5000/kept
platforms: [linux/amd64]
secrets: [{id: tok, env: SB_KEPT_TOKEN}]
nodes:
  root: {kind: os, tag: "1"}
"""
DOCKERFILE = """\
FROM scratch
ADD rootfs/amd64.tar.gz /
# new to every test run, so no earlier run's cache of the secret step can answer for it
ENV SB_RUN={nonce}
ARG SOURCE_DATE_EPOCH
RUN --mount=type=secret,id=tok,required=false \\
    if test -s /run/secrets/tok; then echo with > /secret-step; else echo without > /secret-step; fi
"""


def secret_step_output(client: RegistryClient, reference: str) -> str:
    """/secret-step in the last layer of reference's linux/amd64 image."""
    index = client.manifest(reference)
    assert index is not None, f"{reference} was not pushed"
    repository = reference.rsplit(":", 1)[0]
    image = client.manifest(f"{repository}@{index.platforms()['linux/amd64']}") if index.is_index else index
    assert image is not None
    blob = client.blob(f"{repository}@{image.layers()[-1]}")
    assert blob is not None
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as layer:
        member = layer.extractfile("secret-step")
        assert member is not None
        return member.read().decode().strip()


def new_commit(repo: Path, seconds: int) -> None:
    """An empty commit whose committer time is seconds later than now: a new SOURCE_DATE_EPOCH."""
    when = f"{int(time.time()) + seconds} +0000"
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "later"], check=True,
                   env={**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when})


def test_a_run_with_the_secrets_after_a_withheld_one_runs_the_secret_step_with_them(
        tmp_path: Path, registry: str, builder: BuildxBuilder, repo_root: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    root_repo(repo, repo_root, "kept", STACK, DOCKERFILE.format(nonce=time.time_ns()))
    monkeypatch.setenv("SB_KEPT_TOKEN", "not-a-real-token")
    options = api.Options(root=repo, registry=f"{registry}/kept", state_dir=repo / "state")
    node, client = api.load(options).nodes["root"], RegistryClient()

    withheld = api.build(options, builder, replace(QUIET, secrets=SecretPolicy(withhold=True)))
    assert withheld.status == "succeeded", {n: r.error for n, r in withheld.nodes.items() if r.error}
    withheld_ref = f"{node.repository}:sb-{withheld.nodes['root'].fingerprint}"
    assert secret_step_output(client, withheld_ref) == "without"
    assert [tag for tag in client.tags(node.repository) if tag.startswith("sbcache-")] == []
    assert node.tag not in client.tags(node.repository)  # an untrusted run publishes nothing

    new_commit(repo, 3600)
    trusted = api.build(options, builder, replace(QUIET, secrets=SecretPolicy(envs=("SB_KEPT_TOKEN",))))
    assert trusted.status == "succeeded", {n: r.error for n, r in trusted.nodes.items() if r.error}
    assert trusted.nodes["root"].fingerprint != withheld.nodes["root"].fingerprint
    assert (trusted.nodes["root"].action, trusted.nodes["root"].reason) == ("build", "secrets_passed")
    assert secret_step_output(client, node.ref) == "with"
    assert [tag for tag in client.tags(node.repository) if tag.startswith("sbcache-")] != []  # it exports
