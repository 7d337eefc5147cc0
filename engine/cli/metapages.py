"""The image pages `export meta` writes beside each meta.yml: README.md, doc/image-info.yml and the logo.

A page file already there that the previous export did not write (a README written by hand, or the
checkout of openeuler-docker-images exported into) is kept, never overwritten. (A page whose folder is
a symbolic link stops the export, as every other write through a link does: engine.cli.outfolder.)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from engine.cli.outfolder import fresh_file
from engine.run import api
from graph.expand.assemble import find_stack_files
from graph.load.display import display_names
from graph.load.limits import Limits
from graph.load.stackfile import load_stack
from graph.model.spec import ImageDoc
from graph.present.imagedoc import ImagePages, image_docs

Page = str | Path  # a page's text, or the file (a logo) to copy


def docs_and_display(options: api.Options) -> tuple[dict[tuple[str, str], ImageDoc],
                                                   dict[str, dict[str, str]]]:
    """(stack, image) → the image's `doc:` in the targeted stacks, and stack → value → its display text."""
    limits = Limits(max_nodes=options.max_nodes)
    files = find_stack_files(options.root, options.targets)
    stacks = [load_stack(options.root, file, limits) for file in files]
    return image_docs(stacks), display_names(stacks)


def page_files(root: Path, out_dir: Path, previous: Sequence[PurePosixPath],
               pages: ImagePages) -> tuple[dict[PurePosixPath, Page], dict[PurePosixPath, str]]:
    """The pages to write (relative to out_dir), and those kept as they are with the reason."""
    listed = set(previous)
    wanted: dict[PurePosixPath, Page] = {PurePosixPath(path): text for path, text in pages.texts.items()}
    wanted |= {PurePosixPath(path): root / source for path, source in pages.logos.items()}
    kept = {path: reason for path in wanted if (reason := _not_ours(out_dir, path, listed))}
    return {path: page for path, page in wanted.items() if path not in kept}, kept


def _not_ours(out_dir: Path, relative: PurePosixPath, listed: set[PurePosixPath]) -> str:
    """Why the file at relative is not to be written: no export wrote it, or it is a folder; '' when it
    is to be written."""
    target = out_dir / relative
    if target.is_dir() and not target.is_symlink():
        return "it is a folder"
    if relative not in listed and (target.exists() or target.is_symlink()):
        return "the previous export did not write it (remove it to have it written)"
    return ""


def write_pages(out_dir: Path, pages: dict[PurePosixPath, Page]) -> None:
    """Write each page, replacing what the previous export wrote there."""
    for relative, page in pages.items():
        target = fresh_file(out_dir / relative)
        if isinstance(page, str):
            target.write_text(page, encoding="utf-8")
        else:
            shutil.copyfile(page, target)
            os.chmod(target, 0o644)
