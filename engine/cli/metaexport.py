"""`stackbuild export meta`: an openeuler-docker-images style tree EulerPublisher can build from.

`<out>/<stack>/<image>/meta.yml` maps each tag to `<image-version>/<os-version>/Dockerfile`; that
folder holds a copy of the node's build context (after .dockerignore) and its Dockerfile made
standalone (graph.present.export.standalone_dockerfile). Beside each meta.yml go the image's pages
(README.md, doc/image-info.yml, its logo: engine.cli.metapages). Nothing in it points back into the
repository, so the output folder may be anywhere; nothing is written or removed through a symbolic
link inside it (engine.cli.outfolder).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path, PurePosixPath

import yaml

from engine.cli.exportlisting import previous_files, remove_stale, write_listing
from engine.cli.metapages import Page, docs_and_display, page_files, write_pages
from engine.cli.options import OptionError, options_of
from engine.cli.outfolder import fresh_file, refuse_links, refuse_obstacles
from engine.run import api
from graph.change.fingerprint import sent_files
from graph.context.files import EXECUTABLE_MODE, SYMLINK_MODE
from graph.expand.dag import StackGraph
from graph.present.export import MetaEntry, meta_entries, meta_files, standalone_dockerfile
from graph.present.imagedoc import IMAGE_INFO, LOGO, README, image_pages

DEFAULT_OUT = "build/meta"


def run(args: argparse.Namespace) -> int:
    """Write every meta.yml, tag folder and image page, removing what the previous export wrote and this
    one does not; print one line per meta.yml."""
    options = options_of(args)
    out = Path(args.out or DEFAULT_OUT)
    out_dir = Path(os.path.normpath(out if out.is_absolute() else options.root / out))
    stack_graph = api.load_to_send(options)
    entries = meta_entries(stack_graph)
    _check_outside_contexts(options.root, stack_graph, [e.node for e in entries], out_dir)
    folders = {PurePosixPath(entry.meta).parent / entry.folder:
               _folder_files(options.root, stack_graph, entry) for entry in entries}
    metas = meta_files(entries)
    previous = previous_files(out_dir)
    docs, display = docs_and_display(options)
    pages, kept = page_files(options.root, out_dir, previous,
                             image_pages(entries, stack_graph.nodes, docs, args.link_base or "", display))
    written = {folder / name for folder, files in folders.items() for name in files}
    written |= {PurePosixPath(relative) for relative in metas} | set(pages)
    stale = [path for path in previous if path not in written]
    refuse_links(out_dir, written, stale)
    refuse_obstacles(out_dir, written, stale)  # before anything is written or removed
    removed = remove_stale(out_dir, stale)
    for folder, files in folders.items():
        _write_folder(out_dir / folder, files)
    _write_metas(out_dir, metas)
    write_pages(out_dir, pages)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_listing(out_dir, written)
    _report(out_dir, pages, kept, removed)
    return 0


def _write_metas(out_dir: Path, metas: dict[str, dict[str, dict[str, str]]]) -> None:
    """Write each meta.yml; one line each."""
    for relative, content in metas.items():
        path = fresh_file(out_dir / relative)
        path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        print(f"wrote {path} ({len(content)} tags)")


def _report(out_dir: Path, pages: dict[PurePosixPath, Page], kept: dict[PurePosixPath, str],
            removed: int) -> None:
    """Say what else the export wrote, kept and removed."""
    readmes = sum(path.name == README for path in pages)
    logos = sum(path.as_posix().endswith(LOGO) for path in pages)
    shown = f", {logos} logo{'s' if logos > 1 else ''}" if logos else ""
    print(f"wrote {readmes} image pages ({README}, {IMAGE_INFO}{shown})")
    for path, reason in kept.items():
        print(f"kept {out_dir / path} as it is: {reason}")
    if removed:
        print(f"removed {removed} files the previous export wrote and this one does not")


def _check_outside_contexts(root: Path, stack_graph: StackGraph, names: list[str], out_dir: Path) -> None:
    """Refuse an output folder inside a build context: the next export would copy this one into it."""
    for name in names:
        context = (root / stack_graph.nodes[name].context).resolve()
        if out_dir.resolve().is_relative_to(context):
            raise OptionError(f"--out: {out_dir} lies inside the build context {context} of node {name}",
                              "name a folder outside every build context, e.g. build/meta")


def _folder_files(root: Path, stack_graph: StackGraph, entry: MetaEntry) -> dict[str, tuple[Path, int] | str]:
    """A tag folder's files: name → (context file, mode) to copy, or the text of the standalone Dockerfile."""
    node = stack_graph.nodes[entry.node]
    context, dockerfile = root / node.context, root / node.dockerfile
    own = dockerfile.relative_to(context).as_posix() if dockerfile.is_relative_to(context) else ""
    listed = sent_files(node, root)
    files: dict[str, tuple[Path, int] | str] = {
        item.path: (context / item.path, item.mode) for item in listed
        if item.path not in (own, f"{own}.dockerignore", "Dockerfile")}
    parent = stack_graph.nodes[node.parent].ref if node.parent else ""
    text = dockerfile.read_text(encoding="utf-8")
    files["Dockerfile"] = standalone_dockerfile(text, dict(node.args), parent)
    return files


def _write_folder(folder: Path, files: dict[str, tuple[Path, int] | str]) -> None:
    """Write a tag folder: copies of its context files and its Dockerfile."""
    for name, source in files.items():
        if isinstance(source, str):
            fresh_file(folder / name).write_text(source, encoding="utf-8")
        else:
            _copy(*source, folder / name)


def _copy(source: Path, mode: int, target: Path) -> None:
    """One context file: a symlink as a symlink, a file with its executable bit."""
    fresh_file(target)
    if mode == SYMLINK_MODE:
        os.symlink(os.readlink(source), target)
        return
    shutil.copyfile(source, target)
    target.chmod(EXECUTABLE_MODE if mode == EXECUTABLE_MODE else 0o644)
