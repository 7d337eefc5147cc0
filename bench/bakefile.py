"""Reading and reshaping a bake file exported by `stackbuild export bake`: parents, digests, subtrees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def target_parents(target: dict[str, Any]) -> set[str]:
    """The targets a bake target is built on (its `target:` contexts)."""
    return {source.removeprefix("target:") for source in target.get("contexts", {}).values()
            if source.startswith("target:")}


def bake_digests(metadata: Path) -> dict[str, str]:
    """Each built target's pushed digest from a bake `--metadata-file` ({} when bake wrote none)."""
    built = json.loads(metadata.read_text(encoding="utf-8")) if metadata.exists() else {}
    return {key: value["containerimage.digest"] for key, value in built.items()
            if isinstance(value, dict) and "containerimage.digest" in value}


def on_digests(target: dict[str, Any], targets: dict[str, Any], digests: dict[str, str]) -> dict[str, Any]:
    """target with a `target:` parent replaced by the parent's pushed image, by digest."""
    def source_of(value: str) -> str:
        if not value.startswith("target:"):
            return value
        parent = value.removeprefix("target:")
        return f"docker-image://{targets[parent]['tags'][0].rsplit(':', 1)[0]}@{digests[parent]}"

    contexts = {name: source_of(value) for name, value in target.get("contexts", {}).items()}
    return {**target, **({"contexts": contexts} if contexts else {})}


def rebuilt_targets(targets: dict[str, Any], changed_dockerfile: str) -> set[str]:
    """Targets built from changed_dockerfile and every target below them through `target:` contexts."""
    def dockerfile(target: dict[str, Any]) -> str:
        return f"{target.get('context', '.')}/{target.get('dockerfile', 'Dockerfile')}"

    chosen = {name for name, target in targets.items() if dockerfile(target) == changed_dockerfile}
    grown = True
    while grown:
        below = {name for name, target in targets.items()
                 if name not in chosen and target_parents(target) & chosen}
        chosen |= below
        grown = bool(below)
    return chosen


def write_subtree(bake_file: Path, changed_dockerfile: str, digests: dict[str, str],
                  out: Path) -> int:
    """Write to out a bake file of the targets a change of changed_dockerfile (relative to the bake
    file's root) rebuilds, their parents outside it by digest; how many targets it has."""
    targets = json.loads(bake_file.read_text(encoding="utf-8"))["target"]
    chosen = rebuilt_targets(targets, changed_dockerfile)
    if not chosen:
        raise RuntimeError(f"no target of {bake_file} is built from {changed_dockerfile}")
    outside = {name: digest for name, digest in digests.items() if name not in chosen}
    subtree = {name: _on_outside(targets[name], targets, outside) for name in sorted(chosen)}
    out.write_text(json.dumps({"group": {"default": {"targets": sorted(chosen)}}, "target": subtree}),
                   encoding="utf-8")
    return len(chosen)


def _on_outside(target: dict[str, Any], targets: dict[str, Any], outside: dict[str, str]) -> dict[str, Any]:
    """target with a parent outside the subtree named by its pushed digest (inside: `target:` kept)."""
    inside = not target_parents(target) <= set(outside)
    return target if inside else on_digests(target, targets, outside)
