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
from dataclasses import replace
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from engine.console import logs
from engine.registry.client import RegistryClient
from engine.run import api, reproduce
from engine.run.settings import BuildSettings
from graph.model.secrets import SecretPolicy
from tests.engine.engine_fakes import commit_all, git
from tests.integration.conftest import start_registry
from tests.integration.provenance import statements
from tests.integration.rootrepo import root_repo

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
        origin = "scratch" if name == "root" else "parent"
        (base / name / "Dockerfile").write_text(f"FROM {origin}\nCOPY {name}.txt /{name}.txt\n",
                                                encoding="utf-8")
    (base / "stack.yaml").write_text(STACK, encoding="utf-8")
    (root / ".gitignore").write_text("state/\n", encoding="utf-8")
    commit_all(root, "tiny")


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
        fingerprint, qualifier = report.nodes["child"].fingerprint, platform.replace("/", "%2F")
        # the subject is the candidate tag the build pushed (its content tag, once tested, and the human
        # tag are put on the same digest afterwards)
        assert [s["name"] for s in statement["subject"]] == [
            f"pkg:docker/{encoded}@sb-{fingerprint}-candidate?platform={qualifier}"], text
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


def test_a_no_cache_rebuild_of_the_same_commit_has_the_same_digests(
        tmp_path: Path, registry: str, builder: BuildxBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_repo(tmp_path, f"reproducible {time.time_ns()}")
    options = api.Options(root=tmp_path, registry=f"{registry}/prov", state_dir=tmp_path / "state")
    report = api.build(options, builder, QUIET)
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
    commit_time = int(git(tmp_path, "log", "-1", "--format=%ct").strip())
    # a later commit that leaves the nodes' inputs alone: the check rebuilds what the published
    # commit built (its created and revision labels), not the checkout's time
    (tmp_path / "NOTES.md").write_text("later\n", encoding="utf-8")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2030-01-01T00:00:00Z")
    commit_all(tmp_path, "unrelated")
    results = reproduce.check_reproducible(options, builder, ("root", "child"))
    assert [(r.node, r.reproducible) for r in results] == [("root", True), ("child", True)], \
        reproduce.summary(results)
    for result in results:
        assert [check.platform for check in result.platforms] == ["linux/amd64", "linux/arm64"]
        assert all(check.published == check.rebuilt and check.published for check in result.platforms)
    published = RegistryClient().image_config(api.load(options).nodes["child"].ref, "linux/arm64")
    assert published is not None
    assert published["created"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(commit_time)))


def test_a_rebuild_that_differs_names_the_first_difference(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    tiny_repo(tmp_path, f"drift {time.time_ns()}")
    options = api.Options(root=tmp_path, registry=f"{registry}/prov", state_dir=tmp_path / "state")
    assert api.build(options, builder, QUIET).status == "succeeded"
    # the same commit checked out at another time: a COPY keeps the file's mtime (no layer timestamp
    # rewriting on this engine), so the layer differs
    os.utime(tmp_path / "stacks/prov/root/root.txt", (0, 0))
    [result] = reproduce.check_reproducible(options, builder, ("root",))
    assert not result.reproducible
    assert all(check.difference.startswith("layer 1: ") for check in result.platforms), \
        reproduce.summary([result])


SENTINEL_STACK = """\
stack: hush
registry: localhost:5000/hush
platforms: [linux/amd64]
secrets: [{id: tok, env: SB_SUPPLY_TOKEN}]
nodes:
  root:
    kind: os
    tag: "1"
    args: {DEPLOY_TOKEN: "%s"}
"""
SENTINEL_DOCKERFILE = """\
FROM scratch
ADD rootfs/amd64.tar.gz /
RUN --mount=type=secret,id=tok,required=true wc -c < /run/secrets/tok > /secret-length
"""


@pytest.fixture
def own_registry(tmp_path: Path, builder: BuildxBuilder) -> Iterator[tuple[str, Path]]:
    """A registry of this test alone: (localhost:PORT, the folder it stores in)."""
    folder = tmp_path / "registry"
    process, address = start_registry(folder)
    yield address, folder
    process.terminate()
    process.wait(timeout=10)


def everything_stored(*folders: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file below folders as bytes, gzip-compressed ones (layers) also decompressed."""
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            yield path, data
            if data[:2] == b"\x1f\x8b":
                yield path, gzip.decompress(data)


def test_sentinels_in_secrets_and_the_remote_url_appear_nowhere(
        tmp_path: Path, own_registry: tuple[str, Path], builder: BuildxBuilder, repo_root: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    address, storage = own_registry
    logs.configure("console")  # as the CLI does: events reach the run's log.jsonl whichever test ran first
    secret, remote_token, arg_value = (f"SB_SENTINEL_{secrets.token_hex(8)}" for _ in range(3))
    repo = tmp_path / "repo"
    root_repo(repo, repo_root, "hush", SENTINEL_STACK % arg_value, SENTINEL_DOCKERFILE)
    git(repo, "remote", "add", "origin", f"https://ci-bot:{remote_token}@git.example.invalid/org/stacks.git")
    monkeypatch.setenv("SB_SUPPLY_TOKEN", secret)
    options = api.Options(root=repo, registry=f"{address}/hush", state_dir=repo / "state")
    report = api.build(options, builder, replace(QUIET, secrets=SecretPolicy(envs=("SB_SUPPLY_TOKEN",))))
    assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
    node = api.load(options).nodes["root"]
    labels = RegistryClient().image_config(node.ref, "linux/amd64")["config"]["Labels"]  # type: ignore[index]
    assert labels["org.opencontainers.image.source"] == "https://git.example.invalid/org/stacks.git"
    assert statements(RegistryClient(), node.ref), "no provenance to search"
    console = capsys.readouterr()
    leaks = [(str(path), word) for path, data in everything_stored(storage, repo / "state")
             for word in (secret, remote_token) if word.encode() in data]
    leaks += [("console", word) for word in (secret, remote_token, arg_value)
              if word in console.out + console.err]
    # a secret-looking build arg is *** in every log and report (mode=max provenance keeps build args:
    # that is why the warning says such a value belongs in `secrets:`)
    leaks += [(str(path), "build arg") for path, data in everything_stored(repo / "state")
              if arg_value.encode() in data]
    assert leaks == []
    # the run's own JSON-lines log holds every event, whatever the console logging of the process
    events = [json.loads(line) for path in (repo / "state").rglob("log.jsonl")
              for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    warned = [event for event in events if event.get("event") == "secret_build_arg"]
    assert warned and warned[0].get("arg") == "DEPLOY_TOKEN" and warned[0].get("node") == "root", events
    searched = [path.name for path, _ in everything_stored(repo / "state")]
    assert {"history.db", "lock.json", "report.json", "log.jsonl", "root.log"} <= set(searched)
    assert subprocess.run(["git", "-C", str(repo), "status", "--short"], capture_output=True,
                          check=True).stdout == b""


WITHHELD_STACK = """\
stack: bare
registry: localhost:5000/bare
platforms: [linux/amd64]
secrets: [{id: tok, env: SB_BARE_TOKEN}, {id: file, src: root/token.txt}]
nodes:
  root: {kind: os, tag: "1"}
"""
WITHHELD_DOCKERFILE = """\
FROM scratch
ADD rootfs/amd64.tar.gz /
# BuildKit's cache key of a RUN step leaves out its secrets: a step cached by an earlier run without
# them would pass here with them, so each run's steps are new
ENV SB_RUN={nonce}
RUN --mount=type=secret,id=tok,required=false --mount=type=secret,id=file,required=false \\
    test ! -e /run/secrets/tok && test ! -e /run/secrets/file
"""


def test_no_secrets_mounts_no_secret_into_the_build(
        tmp_path: Path, registry: str, builder: BuildxBuilder, repo_root: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stacks/bare/root").mkdir(parents=True)
    (tmp_path / "stacks/bare/root/token.txt").write_text(f"token {time.time_ns()}\n", encoding="utf-8")
    root_repo(tmp_path, repo_root, "bare", WITHHELD_STACK, WITHHELD_DOCKERFILE.format(nonce=time.time_ns()))
    monkeypatch.setenv("SB_BARE_TOKEN", "SB_SENTINEL_bare")
    options = api.Options(root=tmp_path, registry=f"{registry}/bare", state_dir=tmp_path / "state")
    allowed = replace(QUIET, secrets=SecretPolicy(envs=("SB_BARE_TOKEN",)))
    passed = api.build(options, builder, allowed)  # the secrets are mounted: the RUN step fails
    assert passed.nodes["root"].status == "failed", "the secrets did not reach the build"
    withheld = api.build(options, builder, replace(QUIET, secrets=SecretPolicy(withhold=True)))
    assert withheld.status == "succeeded", {n: r.error for n, r in withheld.nodes.items() if r.error}


def test_provenance_min_keeps_no_build_args_and_off_attaches_nothing(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    tiny_repo(tmp_path, f"modes {time.time_ns()}")
    stack = tmp_path / "stacks/prov/stack.yaml"
    results = {}
    for mode in ("min", "off"):
        stack.write_text(f"provenance: {mode}\n" + STACK, encoding="utf-8")
        root_file = tmp_path / "stacks/prov/root/root.txt"
        root_file.write_text(f"root {mode} {time.time_ns()}\n", encoding="utf-8")
        commit_all(tmp_path, mode)
        options = api.Options(root=tmp_path, registry=f"{registry}/prov", state_dir=tmp_path / "state",
                              select=("root",))
        report = api.build(options, builder, QUIET)
        assert report.status == "succeeded", {n: r.error for n, r in report.nodes.items() if r.error}
        root = api.load(options).nodes["root"]
        index = RegistryClient().manifest(root.ref)
        assert index is not None and sorted(index.platforms()) == ["linux/amd64", "linux/arm64"]
        results[mode] = statements(RegistryClient(), root.ref)
    assert sorted(results["min"]) == ["linux/amd64", "linux/arm64"]
    for statement in results["min"].values():
        assert "args" not in statement["predicate"]["invocation"]["parameters"]  # min: no build args
        assert "localhost" not in json.dumps(statement).replace(registry, "").replace(
            registry.replace(":", "%3A"), "")
    assert results["off"] == {}
