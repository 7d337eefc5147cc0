"""Fakes shared by the engine tests: an in-memory registry, a builder that "pushes" to it, a tiny stack.

Nothing here talks to Docker or to the network.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import textwrap
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from engine.build.builder import BuildResult, PushGate
from engine.build.request import BuildRequest
from engine.errors import BuildError, RegistryError, SmokeTestError
from engine.registry.client import Manifest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
PLATFORMS = ("linux/amd64", "linux/arm64")
REGISTRY = "registry.example/t"  # not loopback: api.build starts no retry proxy for it
LOCAL = "localhost:5000/t"  # loopback: api.build routes BuildKit through its retry proxy
STACK = (Path("stacks/t"),)
DURATION_S = 0.123  # what the fake builder reports; the report rounds it to 0.12


def is_content_ref(ref: str) -> bool:
    """Whether ref is a content tag (sb-<fingerprint>), not a human tag."""
    return ref.rsplit(":", 1)[-1].startswith("sb-")


def sha(text: str) -> str:
    """A well-formed sha256 digest of text."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def digest_of(body: bytes) -> str:
    """What a registry answers as Docker-Content-Digest: the sha256 of the manifest bytes."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def canonical(document: dict[str, Any]) -> bytes:
    """JSON bytes as buildx pushes them (compact, keys in a fixed order)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def image_manifest(layers: Sequence[str], platform: str) -> dict[str, Any]:
    """An OCI image manifest: a config blob and the given layers, base first."""
    return {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha(f"config {platform} {' '.join(layers)}"), "size": 512},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
                        "size": 1024} for layer in layers]}


def index_manifest(platform_manifests: dict[str, bytes]) -> dict[str, Any]:
    """A buildx-like index: one manifest per platform pushed, each followed by its attestation manifest."""
    manifests: list[dict[str, Any]] = []
    for platform, body in platform_manifests.items():
        os_name, architecture = platform.split("/")[:2]
        manifests.append({"mediaType": OCI_MANIFEST, "digest": digest_of(body), "size": len(body),
                          "platform": {"os": os_name, "architecture": architecture}})
        manifests.append({"mediaType": OCI_MANIFEST, "digest": sha(f"attestation {digest_of(body)}"),
                          "size": 839, "platform": {"os": "unknown", "architecture": "unknown"},
                          "annotations": {"vnd.docker.reference.digest": digest_of(body),
                                          "vnd.docker.reference.type": "attestation-manifest"}})
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}


def repository_of(reference: str) -> str:
    """`host/repo:tag` or `host/repo@digest` → `host/repo`."""
    if "@" in reference:
        return reference.split("@", 1)[0]
    host, _, rest = reference.partition("/")
    return f"{host}/{rest.rsplit(':', 1)[0]}" if ":" in rest else reference


class FakeRegistry:
    """The Registry protocol in memory, true to a real registry's digests and platforms.

    Every digest is the sha256 of the stored manifest bytes; an index lists exactly the platforms
    pushed. HEAD is digest(), GET is manifest() (and the first half of tag()), PUT the second half.
    """

    def __init__(self) -> None:
        self.refs: dict[str, str] = {}  # repository:tag → digest
        self.stored: set[str] = set()  # repository@digest of every pushed manifest
        self.bodies: dict[str, tuple[str, bytes]] = {}  # digest → (media type, bytes): content-addressed
        self.requests: Counter[str] = Counter()
        self.events: list[tuple[str, str]] = []  # ("push" | "tag", ref) in order
        self.labels: dict[str, dict[str, str]] = {}  # index digest → the labels of its image config
        self.lone_platforms: dict[str, str] = {}  # digest of an image pushed without an index → platform
        self.lock = threading.Lock()

    def push(self, reference: str, content: str, platforms: Sequence[str] = PLATFORMS,
             base_layers: dict[str, list[str]] | None = None) -> str:
        """What a build's --push does: an index of platforms over base_layers + one layer of content.

        Returns the index digest. Not counted: it is buildx, not the engine, that pushes.
        """
        return self.push_image(reference, {
            platform: [*(base_layers or {}).get(platform, []), sha(f"layer {content} {platform}")]
            for platform in platforms})

    def push_image(self, reference: str, layers: dict[str, list[str]]) -> str:
        """An index with one image manifest per platform, each with exactly these layers; its digest."""
        repository = repository_of(reference)
        bodies = {platform: canonical(image_manifest(platform_layers, platform))
                  for platform, platform_layers in layers.items()}
        index = canonical(index_manifest(bodies))
        with self.lock:
            for body in bodies.values():
                self._store(repository, OCI_MANIFEST, body)
            digest = self._store(repository, OCI_INDEX, index)
            self.refs[reference] = digest
            self.events.append(("push", reference))
        return digest

    def push_single_image(self, reference: str, layers: list[str], platform: str = "linux/amd64") -> str:
        """A lone image manifest (no index) at reference, as a single-platform push may leave; its digest."""
        with self.lock:
            digest = self._store(repository_of(reference), OCI_MANIFEST,
                                 canonical(image_manifest(layers, platform)))
            self.refs[reference] = digest
            self.lone_platforms[digest] = platform
        return digest

    def _store(self, repository: str, media_type: str, body: bytes) -> str:
        digest = digest_of(body)
        self.bodies[digest] = (media_type, body)
        self.stored.add(f"{repository}@{digest}")
        return digest

    def _resolve(self, reference: str) -> str | None:
        if "@" in reference:
            return reference.split("@", 1)[1] if reference in self.stored else None
        return self.refs.get(reference)

    def digest(self, reference: str) -> str | None:
        with self.lock:
            self.requests["HEAD"] += 1
            return self._resolve(reference)

    def manifest(self, reference: str) -> Manifest | None:
        with self.lock:
            self.requests["GET"] += 1
            digest = self._resolve(reference)
            media_type, body = self.bodies.get(digest, ("", b"")) if digest else ("", b"")
        return Manifest(digest, media_type, json.loads(body)) if digest and body else None

    def manifest_body(self, reference: str) -> bytes | None:
        """The stored bytes at reference, None when there are none (not counted; for the fakes)."""
        with self.lock:
            digest = self._resolve(reference)
            return self.bodies[digest][1] if digest and digest in self.bodies else None

    def platforms(self, reference: str) -> dict[str, str]:
        """Platform → image manifest digest of the index at reference (not counted; for assertions)."""
        with self.lock:
            digest = self._resolve(reference)
            body = self.bodies[digest][1] if digest else b"{}"
        return Manifest(digest or "", OCI_INDEX, json.loads(body)).platforms()

    def layers(self, reference: str, platform: str) -> list[str]:
        """Layer digests of one platform's image at reference (not counted; for assertions)."""
        manifest_digest = self.platforms(reference)[platform]
        return [layer["digest"] for layer in json.loads(self.bodies[manifest_digest][1])["layers"]]

    def image_config(self, reference: str, platform: str = "linux/amd64") -> dict[str, Any] | None:
        """A config holding the labels pushed with the image at reference (counted as a GET); None, as
        from a real registry, when it is an index without that platform."""
        with self.lock:
            self.requests["GET"] += 1
            digest = self._resolve(reference)
            media_type, body = self.bodies.get(digest, ("", b"")) if digest else ("", b"")
        manifest = Manifest(digest, media_type, json.loads(body)) if digest and body else None
        if digest is None or (manifest and manifest.is_index and platform not in manifest.platforms()):
            return None
        os_name, architecture, *variant = self.lone_platforms.get(digest, platform).split("/")
        labels = dict(self.labels.get(digest, {}))
        return {"os": os_name, "architecture": architecture, "config": {"Labels": labels},
                **({"variant": variant[0]} if variant else {})}

    def tag(self, source: str, target: str) -> str:
        with self.lock:
            self.requests["GET"] += 1
            digest = self._resolve(source)
            if digest is None:
                raise RegistryError(f"cannot tag {target}: {source} is not in the registry")
            if repository_of(source) != repository_of(target):
                raise AssertionError(f"tag across repositories: {source} → {target}")
            self.requests["PUT"] += 1
            media_type, body = self.bodies[digest]
            self.refs[target] = self._store(repository_of(target), media_type, body)
            self.events.append(("tag", target))
            return self.refs[target]

    def tags(self, refs: Sequence[str] | set[str]) -> dict[str, str]:
        """The digests of those refs that exist."""
        with self.lock:
            return {ref: self.refs[ref] for ref in refs if ref in self.refs}


class RefusingTag(FakeRegistry):
    """A registry that refuses to move one tag (a read-only repository)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    def tag(self, source: str, target: str) -> str:
        if target == self.refused:
            raise RegistryError(f"PUT {target}: HTTP 403 Forbidden")
        return super().tag(source, target)


def build_log(platforms: Sequence[str], error: str = "") -> str:
    """A small `--progress plain` log: a shared step, one step per platform, an export step."""
    lines = ['#0 building with "default" instance using docker driver', "",
             "#1 [internal] load build definition from Dockerfile",
             "#1 transferring dockerfile: 52B done", "#1 DONE 0.1s"]
    for number, platform in enumerate(platforms, start=2):
        lines += [f"#{number} [{platform} 1/1] FROM scratch", f"#{number} DONE {number - 0.5}s"]
    if error:
        lines += ["#9 [linux/amd64 2/2] RUN false", f"#9 ERROR: {error}"]
    else:
        lines += ["#9 exporting to image", "#9 DONE 0.5s"]
    return "\n".join(lines) + "\n"


def expected_platform_durations(platforms: Sequence[str]) -> dict[str, float]:
    """platform_durations of build_log(platforms)."""
    return {"shared": 0.6, **{platform: number - 0.5
                              for number, platform in enumerate(platforms, start=2)}}


class FakeBuilder:
    """Records every call; a build "pushes" a new digest to the fake registry under the request's tag."""

    def __init__(self, registry: FakeRegistry, fail: Sequence[str] = (), fail_test: Sequence[str] = (),
                 error: type[Exception] = BuildError, proxied: str = "", stores: bool = False) -> None:
        self.registry, self.proxied = registry, proxied
        self.local = FakeRegistry() if stores else None  # the engine's image store, as on the docker driver
        self.fail, self.fail_test, self.error = set(fail), set(fail_test), error
        self.lock = threading.Lock()
        self.requests: dict[str, BuildRequest] = {}
        self.log_paths: dict[str, Path] = {}
        self.digests: dict[str, str] = {}
        self.order: list[str] = []
        self.tests: list[tuple[str, str, str, tuple[str, ...]]] = []
        self.pushes: Counter[str] = Counter()
        self.tagged_before_build: list[str] = []  # human tags set before some build started

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        with self.lock:
            self.requests[request.node] = request
            self.log_paths[request.node] = log_path
            self.order.append(request.node)
            self.tagged_before_build += [ref for kind, ref in self.registry.events
                                         if kind == "tag" and not is_content_ref(ref)]
        failing = request.node in self.fail
        log_path.write_text(build_log(request.platforms, "exit code: 1" if failing else ""),
                            encoding="utf-8")
        if failing:
            if self.error is BuildError:
                raise BuildError(request.node, ["docker", "buildx", "build"], 1, "step 3 failed",
                                 str(log_path))
            raise self.error(f"{request.node} exploded")
        (reference,) = request.tags
        if self.proxied:  # buildx pushed through the retry proxy: the image lands in the proxied registry
            reference = re.sub(r"^localhost:[0-9]+/", f"{self.proxied}/", reference)
        with self.lock:
            self.pushes[reference] += 1
            content = f"{reference}#{self.pushes[reference]}"
        layers = self._parent_layers(request)
        if self.local is not None and gate is not None:  # stored, then pushed (the docker driver's way)
            gate.before_push(self.local.push(reference, content, request.platforms, layers))
        digest = self.registry.push(reference, content, request.platforms, layers)
        if self.local is not None and gate is not None:
            gate.after_push(digest)
        with self.lock:
            self.registry.labels[digest] = dict(request.labels)
            self.digests[request.node] = digest
        return BuildResult(request.node, digest, DURATION_S, str(log_path))

    def _parent_layers(self, request: BuildRequest) -> dict[str, list[str]]:
        """Platform → layers of the parent image the request builds FROM (none for a root node, or for
        an external base this registry does not hold)."""
        parent = dict(request.build_contexts).get("parent", "").removeprefix("docker-image://")
        if self.proxied:
            parent = re.sub(r"^localhost:[0-9]+/", f"{self.proxied}/", parent)
        if not parent or self.registry.manifest_body(parent) is None:
            return {}
        return {platform: self.registry.layers(parent, platform) for platform in request.platforms}

    def smoke_test(self, node: str, image: str, platform: str, command: Sequence[str],
                   entrypoint: str | None = None) -> str:
        with self.lock:
            self.tests.append((node, image, platform, tuple(command)))
        if node in self.fail_test:
            raise SmokeTestError(node, platform, command, "exit 1")
        return f"ok {platform}\n"


STACK_YAML = """\
    stack: t
    registry: {registry}
    platforms: [linux/amd64, linux/arm64]
    nodes:
      base: {{kind: os, tag: "1", test: "true"}}
      other: {{kind: os, tag: "5"}}
      mid: {{kind: sdk, parent: base, tag: "2", args: {{V: "{arg}"}}, test: "sh -c 'exit 0'"}}
      side: {{kind: tool, parent: base, tag: "4"}}
      leaf: {{kind: framework, parent: mid, tag: "3"}}
"""
NODES = ("base", "other", "mid", "side", "leaf")  # in build order
PARENTS = {"base": None, "other": None, "mid": "base", "side": "base", "leaf": "mid"}
TESTS = {"base": ("true",), "mid": ("sh", "-c", "exit 0")}


def write_stack(root: Path, arg: str = "1", registry: str = REGISTRY) -> Path:
    """A tiny stack of FROM scratch Dockerfiles under root/stacks/t: base → mid → leaf, base → side, other."""
    folder = root / "stacks" / "t"
    for name in NODES:
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "Dockerfile").write_text(f"FROM scratch\nLABEL node={name}\n", encoding="utf-8")
    (folder / "stack.yaml").write_text(textwrap.dedent(STACK_YAML.format(registry=registry, arg=arg)),
                                       encoding="utf-8")
    return folder


def human_ref(name: str, registry: str = REGISTRY) -> str:
    """The human tag of a node of the tiny stack."""
    return f"{registry}/{name}:{dict(base='1', other='5', mid='2', side='4', leaf='3')[name]}"


def human_tags(registry: FakeRegistry) -> dict[str, str]:
    """The tiny stack's human tags the registry holds, with their digests."""
    return registry.tags({human_ref(name) for name in NODES})


def git(repo: Path, *args: str) -> str:
    """Run git in repo (with a committer identity); its stdout."""
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "init.defaultBranch=main", *args],
                          check=True, capture_output=True, text=True)
    return done.stdout


def commit_all(repo: Path, message: str = "change") -> None:
    """Initialise repo as a git repository if needed, then commit everything in it."""
    if not (repo / ".git").exists():
        git(repo, "init", "-q", "--template=")  # no sample hooks: fewer files to clean up
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def fork(repo: Path, upstream: Mapping[str, str], branch: Mapping[str, str]) -> str:
    """Commit repo on `main`, fork `pr` there, then commit the upstream files on main after the fork and
    the branch files on pr (each: path → text), and leave pr checked out; the fork commit."""
    if not (repo / ".git").exists():
        git(repo, "init", "-q", "--template=")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "fork point")  # the files may be committed already
    git(repo, "branch", "-M", "main")
    forked = git(repo, "rev-parse", "HEAD").strip()
    for name, files in (("pr", branch), ("main", upstream)):
        git(repo, "switch", "-q", *(["-c", name, forked] if name == "pr" else [name]))
        for path, text in files.items():
            (repo / path).write_text(text, encoding="utf-8")
        commit_all(repo, f"on {name}")
    git(repo, "switch", "-q", "pr")
    return forked


def trust_fresh_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the file digest memo keep files written just now (a test writes all of its files just now)."""
    from engine.state import digestmemo

    monkeypatch.setattr(digestmemo, "RACY_S", -3600.0)


def record_file_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the context files hashed from now on, in order."""
    from graph.context import files

    reads: list[str] = []
    real = files._file_digest
    monkeypatch.setattr(files, "_file_digest", lambda path: reads.append(path) or real(path))
    return reads
