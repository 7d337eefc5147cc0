"""Supply chain on a real engine and registry: provenance read back per platform, digests that a
no-cache rebuild of the same commit reproduces, and sentinels that end up nowhere they must not."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.build.builder import BuildxBuilder
from engine.registry.client import RegistryClient
from engine.run import api, reproduce
from engine.run.runner import BuildSettings
from tests.engine.engine_fakes import commit_all, git
from tests.integration.conftest import start_registry

QUIET = BuildSettings(jobs=2, test=False)
STACK = """\
stack: prov
registry: localhost:5000/prov
platforms: [linux/amd64, linux/arm64]
nodes:
  root:  {kind: os, dockerfile: root/Dockerfile, tag: "1"}
  child: {kind: sdk, parent: root, dockerfile: child/Dockerfile, tag: "1"}
"""


def tiny_repo(root: Path, text: str) -> None:
    """A git repository holding root (FROM scratch + COPY) → child (FROM parent + COPY), committed."""
    base = root / "stacks" / "prov"
    for name in ("root", "child"):
        (base / name).mkdir(parents=True, exist_ok=True)
        (base / name / f"{name}.txt").write_text(f"{name} {text}\n", encoding="utf-8")
        (base / name / "Dockerfile").write_text(
            f"FROM {'scratch' if name == 'root' else 'parent'}\nCOPY {name}.txt /{name}.txt\n", encoding="utf-8")
    (base / "stack.yaml").write_text(STACK, encoding="utf-8")
    (root / ".gitignore").write_text("state/\n", encoding="utf-8")
    commit_all(root, "tiny")


def statements(client: RegistryClient, ref: str) -> dict[str, dict[str, Any]]:
    """Platform → the SLSA provenance statement attached to that platform's image in the index at ref."""
    index = client.manifest(ref)
    assert index is not None and index.is_index, ref
    repository = ref.rsplit(":", 1)[0] if "@" not in ref else ref.split("@", 1)[0]
    by_digest = {digest: platform for platform, digest in index.platforms().items()}
    found = {}
    for entry in index.body["manifests"]:
        annotations = entry.get("annotations", {})
        if annotations.get("vnd.docker.reference.type") != "attestation-manifest":
            continue
        manifest = client.manifest(f"{repository}@{entry['digest']}")
        assert manifest is not None
        for layer in manifest.body["layers"]:
            if "provenance" in layer.get("annotations", {}).get("in-toto.io/predicate-type", ""):
                blob = client.blob(f"{repository}@{layer['digest']}")
                assert blob is not None
                found[by_digest[annotations["vnd.docker.reference.digest"]]] = json.loads(blob)
    return found


def test_provenance_names_the_real_registry_and_the_parent_on_both_platforms(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    tiny_repo(tmp_path, f"provenance {time.time_ns()}")
    options = api.Options(root=tmp_path, registry=f"{registry}/prov", state_dir=tmp_path / "state")
    report = api.build(options, builder, QUIET)
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
    graph, client = api.load(options), RegistryClient()
    child, root_digest = graph.nodes["child"], report.nodes["root"].digest
    found = statements(client, child.ref)
    assert sorted(found) == ["linux/amd64", "linux/arm64"]
    for platform, statement in found.items():
        text = json.dumps(statement)
        assert statement["predicateType"].startswith("https://slsa.dev/provenance/")
        encoded = child.repository.replace(":", "%3A", 1)
        content_tag = report.nodes["child"].ref  # the human tag; the subject names the content tag
        assert [s["name"] for s in statement["subject"]] == [
            f"pkg:docker/{encoded}@sb-{report.nodes['child'].fingerprint}?platform={platform.replace('/', '%2F')}"
        ], (content_tag, text)
        assert "localhost" not in text.replace(registry, "").replace(registry.replace(":", "%3A"), ""), \
            "a proxy address leaked into the attestation"
        assert root_digest.split(":", 1)[1] in text, "the parent's digest is not recorded"
        parameters = statement["predicate"]["invocation"]["parameters"]  # mode=max records the args
        args = parameters["args"]
        assert args["label:org.stackbuild.node"] == "child"
        assert args["label:org.stackbuild.stack"] == "prov"
        assert args["label:org.stackbuild.fingerprint"] == report.nodes["child"].fingerprint
        assert args["label:org.opencontainers.image.base.digest"] == root_digest
        assert "https://mobyproject.org/buildkit@v1#metadata" in statement["predicate"]["metadata"]
