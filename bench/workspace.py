"""The folders the bench builds in: a copy of the demo stack or the generated one, and its bake file.

Each workspace has its own state folder, bake file and logs, and the framework Dockerfile that a PR
change edits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import bakefile, synth

# the demo stack hands the host's CA bundle to pip as a build secret (bake reads it too): allowed explicitly
HOST_SECRETS = ("--secret-src-allow", "/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class Workspace:
    """One stack to compare on, in a folder of its own (its Dockerfiles get edited)."""

    label: str
    root: Path
    target: str  # the stack folder, relative to root
    nodes: int
    change_file: Path  # the framework Dockerfile a PR edits
    original: str
    roots: tuple[Path, ...]  # the Dockerfiles of the root nodes, which a cold run makes new (fresh_roots)
    sb_prefix: str
    bake_prefix: str

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def bake_file(self) -> Path:
        return self.root / "build" / "docker-bake.json"

    @property
    def logs(self) -> Path:
        return self.root / "bench-logs"


def stackbuild_command() -> list[str]:
    """How to run the stackbuild CLI of this interpreter's environment."""
    script = Path(sys.executable).parent / "stackbuild"
    return [str(script)] if script.exists() else [sys.executable, "-m", "engine.cli"]


def clean_env() -> dict[str, str]:
    """This environment without STACKBUILD_* and BUILDX_BAKE_FILE: each tool runs on its defaults."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith("STACKBUILD_") and key != "BUILDX_BAKE_FILE"}


def _hardlink_or_copy(src: str, dst: str) -> None:
    if os.path.getsize(src) > 1 << 20:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


def demo_workspace(work: Path, repo_root: Path, registry: str) -> Workspace:
    """A copy of stacks/demo (its root file systems hard-linked)."""
    root = work / "demo"
    shutil.copytree(repo_root / "stacks" / "demo", root / "stacks" / "demo", copy_function=_hardlink_or_copy)
    # the SBOM generator of stacks/tools is not in the workspace: neither the build nor the bake file
    # (which carries the stack's attestations) makes an SBOM here
    stack_file = root / "stacks" / "demo" / "stack.yaml"
    stack_file.write_text("\n".join(line for line in stack_file.read_text(encoding="utf-8").splitlines()
                                    if not line.startswith("sbom:")) + "\n", encoding="utf-8")
    change = root / "stacks" / "demo" / "framework" / "tinygrad" / "Dockerfile"
    return _workspace("demo", root, "stacks/demo", change, registry)


def synth_workspace(work: Path, registry: str) -> Workspace:
    """The generated 29-node stack (FROM scratch + COPY of small files)."""
    root = work / "synth"
    synth.write_build_stack(root)
    change = root / "stacks" / "synth" / "framework" / "a" / "Dockerfile"
    return _workspace("synth", root, "stacks/synth", change, registry)


def _workspace(label: str, root: Path, target: str, change: Path, registry: str) -> Workspace:
    from engine.run import api

    graph = api.load(api.Options(root=root, targets=(Path(target),)))
    roots = tuple(sorted({root / node.dockerfile for node in graph.nodes.values()
                          if node.parent is None and not node.external}))
    ws = Workspace(label, root, target, len(graph.nodes), change, change.read_text(encoding="utf-8"),
                   roots, f"{registry}/sb-{label}", f"{registry}/bake-{label}")
    ws.logs.mkdir(parents=True, exist_ok=True)
    subprocess.run([*stackbuild_command(), "export", "bake", target, "--root", str(root), "--registry",
                    ws.bake_prefix, "--out", str(ws.bake_file), "--log-format", "json", *HOST_SECRETS],
                   check=True, capture_output=True, env=clean_env(), timeout=120)
    return ws


def fresh_roots(ws: Workspace) -> None:
    """Make a cold run cold whatever the engine holds: a fresh `ENV BENCH_COLD=<random>` line at the end of
    each root node's Dockerfile gives every image of the stack a new parent, so no layer cache of an
    earlier build matches (`buildx prune` keeps the cache of images still in the engine's store, e.g. a
    test session's builds of the same, reproducible, stack: they served a "cold" demo build in 15 s)."""
    for dockerfile in ws.roots:
        text = dockerfile.read_text(encoding="utf-8").split("\nENV BENCH_COLD=")[0].rstrip("\n")
        dockerfile.write_text(f"{text}\nENV BENCH_COLD={uuid.uuid4().hex[:12]}\n", encoding="utf-8")


def edit_framework(ws: Workspace) -> None:
    """A PR change: a fresh `ENV BENCH_CHANGE=<random>` line appended to the framework Dockerfile."""
    ws.change_file.write_text(ws.original + f"ENV BENCH_CHANGE={uuid.uuid4().hex[:12]}\n", encoding="utf-8")


def subtree_file(ws: Workspace, digests: dict[str, str]) -> tuple[Path, int]:
    """A bake file of the targets a PR change rebuilds, parents outside it by digest; (path, targets)."""
    path = ws.root / "subtree-bake.json"
    changed = ws.change_file.relative_to(ws.root).as_posix()
    return path, bakefile.write_subtree(ws.bake_file, changed, digests, path)
