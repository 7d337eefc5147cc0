"""Files a stack names (Dockerfile, build context, logo): each checked to lie in the repository, not .git."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graph.errors import StackError
from graph.load.fields import Fields
from graph.load.readfile import read_stack_text, refuse_escaping_link
from graph.load.yamldoc import parse_yaml
from graph.model import checks

PATH_KEYS = ("dockerfile", "context")
CONTENT_KEYS = ("logo",)  # files loading reads (a logo must be a PNG), not only checks exist


def build_paths(root: Path, folder: str, fields: Fields, default_dockerfile: str | None) -> tuple[str, str]:
    """The Dockerfile and the context folder (relative to root), both checked to exist inside root."""
    try:
        dockerfile = fields.text("dockerfile", default_dockerfile)
        dockerfile_path = _checked_dockerfile(root, folder, fields, dockerfile)
        context_path = _checked_context(root, folder, fields, posixpath.dirname(dockerfile) or ".")
    except (OSError, RuntimeError, ValueError) as exc:  # a name too long, a symlink loop, ...
        key = next((key for key in ("dockerfile", "context") if fields.has(key)), None)
        raise StackError(f"cannot check the path: {getattr(exc, 'strerror', None) or exc}",
                         fields.where(key) if key else fields.where(),
                         "use a short path to a file inside the repository") from None
    return relative(root, dockerfile_path), relative(root, context_path)


def _checked_dockerfile(root: Path, folder: str, fields: Fields, dockerfile: str) -> Path:
    """The Dockerfile's path, a file inside root and outside .git."""
    # in .git a Dockerfile parse error would print the file's lines
    dockerfile_path = _in_work_tree(
        root, folder, fields, "dockerfile", dockerfile, f"Dockerfile {dockerfile!r}",
        ("keep Dockerfiles inside the repository, without ',' in the path",
         "keep Dockerfiles in the work tree"))
    if not dockerfile_path.is_file():
        shown = posixpath.join(folder, dockerfile)
        state = "is a folder, not a file" if dockerfile_path.is_dir() else "does not exist"
        raise StackError(f"Dockerfile {shown} {state}",
                         fields.where("dockerfile") if fields.has("dockerfile") else fields.where(),
                         "create it or set 'dockerfile:' to its path relative to the stack file")
    return dockerfile_path


def checked_file(root: Path, folder: str, fields: Fields, key: str, what: str) -> str:
    """The file key names (from folder), relative to root: refused at key's line unless it is a file
    inside root and outside .git."""
    value = fields.text(key)
    try:
        path = _in_work_tree(root, folder, fields, key, value, f"{what} {value!r}",
                             (f"keep the {what} inside the repository, without ',' in the path",
                              f"keep the {what} in the work tree"))
        if not path.is_file():
            state = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise fields.fail(key, f"{what} {posixpath.join(folder, value)} {state}",
                              f"create it or set '{key}:' to its path relative to the stack file")
    except (OSError, RuntimeError, ValueError) as exc:  # a name too long, a symlink loop, ...
        raise fields.fail(key, f"cannot check the path: {getattr(exc, 'strerror', None) or exc}",
                          "use a short path to a file inside the repository") from None
    return relative(root, path)


def _checked_context(root: Path, folder: str, fields: Fields, default_context: str) -> Path:
    """The context folder's path, a folder inside root and outside .git."""
    context = fields.text("context", default_context)
    # walked from inside, its files are config, not .git/config: the context walk's check cannot see them
    context_path = _in_work_tree(root, folder, fields, "context", context, f"build context {context!r}",
                                 ("use a folder inside the repository, without ',' in the path",
                                  "use a folder of the work tree"))
    if not context_path.is_dir():
        raise fields.fail("context", f"build context {context!r} is not a folder")
    return context_path


def _in_work_tree(root: Path, folder: str, fields: Fields, key: str, value: str, shown: str,
                  fixes: tuple[str, str]) -> Path:
    """The path of value (key's) from folder, refused at key's line when it lies outside root or in git's
    own files (.git), where CI keeps credentials; fixes: the hint for each."""
    path = checks.inside(root, posixpath.join(folder, value))
    if path is None:
        raise fields.fail(key, f"{shown} is outside the repository", fixes[0])
    if checks.git_metadata(Path(relative(root, path)).parts):
        raise fields.fail(key, f"{shown} is in git's own files (.git), where CI keeps credentials", fixes[1])
    return path


def relative(root: Path, path: Path) -> str:
    """path relative to root, in POSIX form."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() or "."
    except (ValueError, OSError, RuntimeError):  # outside root, or a path that cannot be resolved
        return path.as_posix()


def named_paths(root: Path, file: Path, keys: tuple[str, ...] = PATH_KEYS) -> set[str]:
    """Every path written under keys (default: Dockerfiles and contexts) in the stack file at file (relative
    to root, normalized; any outside root left out), and with "dockerfile" each node's default
    <name>/Dockerfile (a link there leads elsewhere): what loading it checks exists. Empty when the file
    does not parse."""
    try:
        refuse_escaping_link(root, file)
        rel_file = relative(root, file)
        data = parse_yaml(read_stack_text(file, rel_file), rel_file).data
    except StackError:  # loading the file says what is wrong
        return set()
    folder = posixpath.dirname(rel_file)
    values = list(_path_values(data, keys))
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if "dockerfile" in keys and isinstance(nodes, dict):
        values += [f"{name}/Dockerfile" for name in nodes]
    paths = {posixpath.normpath(posixpath.join(folder, value)) for value in values}
    return {path for path in paths if path != "." and not path.startswith(("/", "../")) and path != ".."}


def _path_values(data: Any, keys: tuple[str, ...]) -> Iterator[str]:
    """The text of every one of keys at any depth (nodes, dev, doc, whatever extends)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from _path_values(value, keys)
    elif isinstance(data, list):
        for item in data:
            yield from _path_values(item, keys)
