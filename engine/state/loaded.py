"""What `build --load` put into the local engine's image store: node → fingerprint, digest, platforms.

There is no registry to ask in the local loop, so the state folder keeps `loaded.json`; the engine's
store stays the truth (an image removed there is rebuilt), this file says what the last runs loaded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.state.lockfile import DIGEST_RE
from engine.state.safefiles import StateError, read_bounded, write_atomic

LOADED = "loaded.json"
VERSION = 1


@dataclass(frozen=True)
class LoadedImage:
    """One node's image in the local store."""

    node: str
    ref: str  # its human tag, set locally
    fingerprint: str
    digest: str  # the image's id in the store (the index digest with the containerd store)
    platforms: tuple[str, ...]


def read_loaded(state: Path) -> dict[str, LoadedImage]:
    """The record, {} when there is none or it cannot be read (then everything is looked up again)."""
    try:
        data = json.loads(read_bounded(state / LOADED).decode("utf-8"))
    except (StateError, ValueError, RecursionError, FileNotFoundError):
        return {}
    nodes = data.get("nodes") if isinstance(data, dict) and data.get("version") == VERSION else None
    if not isinstance(nodes, dict):
        return {}
    loaded = {}
    for name, item in nodes.items():
        try:
            image = LoadedImage(str(item["node"]), str(item["ref"]), str(item["fingerprint"]),
                                str(item["digest"]), tuple(str(p) for p in item["platforms"]))
        except (KeyError, TypeError):
            continue
        if image.node == name and DIGEST_RE.fullmatch(image.digest):
            loaded[name] = image
    return loaded


def write_loaded(state: Path, images: dict[str, LoadedImage]) -> Path:
    """Write the record atomically."""
    data = {"version": VERSION, "nodes": {name: asdict(images[name]) for name in sorted(images)}}
    return write_atomic(state / LOADED, json.dumps(data, indent=2) + "\n")
