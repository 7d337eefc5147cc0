"""Exports for other tools: openEuler's meta.yml (tag → Dockerfile), per stack and image."""

from __future__ import annotations

import posixpath

from graph.expand.dag import StackGraph

ARCH_NAMES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}


def meta_files(stack_graph: StackGraph, out_dir: str) -> dict[str, dict[str, dict[str, str]]]:
    """`<stack>/<image>/meta.yml` → {tag: {path, [arch]}}, paths relative to each meta.yml's folder.

    EulerPublisher's meta.yml maps each tag to the Dockerfile that builds it and names the
    architecture when an image is built for one only. out_dir is where the files go, relative to the
    repository root, so each Dockerfile path leads back into the repository. meta.yml has no room
    for build args: matrix nodes sharing a Dockerfile differ only by their args.
    """
    files: dict[str, dict[str, dict[str, str]]] = {}
    for name in stack_graph.order:
        node = stack_graph.nodes[name]
        if node.external:
            continue
        folder = posixpath.join(node.stack, node.image)
        entry = {"path": posixpath.relpath(node.dockerfile, posixpath.join(out_dir, folder))}
        if len(node.platforms) == 1 and node.platforms[0] in ARCH_NAMES:
            entry["arch"] = ARCH_NAMES[node.platforms[0]]
        files.setdefault(posixpath.join(folder, "meta.yml"), {})[node.tag] = entry
    return files
