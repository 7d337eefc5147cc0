"""`stackbuild export meta`: an openeuler-docker-images style tree EulerPublisher can build from.

`<out>/<stack>/<image>/meta.yml` maps each tag to `<image-version>/<os-version>/Dockerfile`; that
folder holds a copy of the node's build context (after .dockerignore) and its Dockerfile made
standalone (graph.present.export.standalone_dockerfile). Nothing in it points back into the
repository, so the output folder may be anywhere.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import yaml

from engine.cli.options import OptionError, options_of
from engine.run import api
from graph.context.dockerignore import read_ignore_patterns
from graph.context.files import EXECUTABLE_MODE, SYMLINK_MODE, list_context
from graph.expand.dag import StackGraph
from graph.present.export import MetaEntry, meta_entries, meta_files, standalone_dockerfile

DEFAULT_OUT = "build/meta"


def run(args: argparse.Namespace) -> int:
    """Write every meta.yml and tag folder; print one line per meta.yml."""
    options = options_of(args)
    out = Path(args.out or DEFAULT_OUT)
    out_dir = Path(os.path.normpath(out if out.is_absolute() else options.root / out))
    stack_graph = api.load(options)
    entries = meta_entries(stack_graph)
    _check_outside_contexts(options.root, stack_graph, [e.node for e in entries], out_dir)
    for entry in entries:
        _write_folder(options.root, stack_graph, entry, out_dir / Path(entry.meta).parent / entry.folder)
    for relative, content in meta_files(entries).items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        print(f"wrote {path} ({len(content)} tags)")
    return 0


def _check_outside_contexts(root: Path, stack_graph: StackGraph, names: list[str], out_dir: Path) -> None:
    """Refuse an output folder inside a build context: the next export would copy this one into it."""
    for name in names:
        context = (root / stack_graph.nodes[name].context).resolve()
        if out_dir.resolve().is_relative_to(context):
            raise OptionError(f"--out: {out_dir} lies inside the build context {context} of node {name}",
                              "name a folder outside every build context, e.g. build/meta")


def _write_folder(root: Path, stack_graph: StackGraph, entry: MetaEntry, folder: Path) -> None:
    """The tag's folder: its node's context files and standalone Dockerfile."""
    node = stack_graph.nodes[entry.node]
    context, dockerfile = root / node.context, root / node.dockerfile
    own = dockerfile.relative_to(context).as_posix() if dockerfile.is_relative_to(context) else ""
    for item in list_context(context, read_ignore_patterns(context, dockerfile)):
        if item.path not in (own, f"{own}.dockerignore", "Dockerfile"):
            _copy(context / item.path, folder / item.path, item.mode)
    parent = stack_graph.nodes[node.parent].ref if node.parent else ""
    text = standalone_dockerfile(dockerfile.read_text(encoding="utf-8"), dict(node.args), parent)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(text, encoding="utf-8")


def _copy(source: Path, target: Path, mode: int) -> None:
    """One context file: a symlink as a symlink, a file with its executable bit."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    if mode == SYMLINK_MODE:
        os.symlink(os.readlink(source), target)
        return
    shutil.copyfile(source, target)
    target.chmod(EXECUTABLE_MODE if mode == EXECUTABLE_MODE else 0o644)
