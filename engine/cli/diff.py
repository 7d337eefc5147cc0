"""`stackbuild diff REF1 REF2`: the stacks at two git refs compared, with a build-time estimate.

Each ref's stack folders (and the Dockerfiles, contexts and logos they name elsewhere in the
repository) are exported with `git archive` into a temporary folder and loaded and fingerprinted there,
so both sides are computed the same way from what git tracks. Files git does not track (ignored or
untracked, such as the root file systems `make setup` writes into stacks/demo/os/rootfs) are missing
from both exported trees: they count as equal on both sides and a change to them never shows in a
diff, although the fingerprints of real builds (and so the registry's content tags) include them.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterable
from pathlib import Path

from engine.cli.options import options_of
from engine.run import api
from engine.state import gitexport, gitinfo
from engine.state.history import History
from graph.change.fingerprint import fingerprint_graph
from graph.errors import GraphError, StackError
from graph.expand.assemble import load_graph, stack_paths
from graph.expand.dag import graph_of, with_registry
from graph.load.limits import Limits
from graph.load.paths import CONTENT_KEYS, PATH_KEYS
from graph.plan.diff import StackDiff, Version, compare, diff_json, diff_markdown, diff_table

RENDERERS = {"table": diff_table, "json": diff_json, "markdown": diff_markdown}


def run(args: argparse.Namespace) -> int:
    """Print the diff between args.ref1 and args.ref2 in args.format."""
    ref1, ref2 = args.ref1, args.ref2
    diff, commits = diff_refs(options_of(args), ref1, ref2)
    print(RENDERERS[args.format](diff, ref1, ref2, commits))
    return 0


def diff_refs(options: api.Options, ref1: str, ref2: str) -> tuple[StackDiff, tuple[str, str]]:
    """The diff from ref1 to ref2 and the two commits they name."""
    commits = (commit_of(options.root, ref1), commit_of(options.root, ref2))
    old = version_at(options, commits[0], ref1)
    new = version_at(options, commits[1], ref2)
    return compare(old, new, durations(options, new.graph.order)), commits


def commit_of(root: Path, ref: str) -> str:
    """The commit ref names; GitError when it names none."""
    return gitinfo.resolve(root, ref)


def version_at(options: api.Options, commit: str, ref: str) -> Version:
    """The stacks as they are at commit, loaded and fingerprinted from an exported tree."""
    # targets missing at commit are left out; with none left the version is empty (every tag added)
    targets = tuple(target for target in (_relative(options.root, t) for t in options.targets)
                    if _tracked(options.root, commit, target))
    if not targets:
        return Version(graph_of([]), {})
    with tempfile.TemporaryDirectory(prefix="stackbuild-diff-") as folder:
        tree = Path(folder)
        tops = sorted({_top(target) for target in targets})
        gitexport.export_tree(options.root, commit, tree, tops)
        _export_named(options.root, commit, tree, targets, tops)
        try:
            graph = load_graph(tree, targets, Limits(max_nodes=options.max_nodes))
        except GraphError as exc:
            raise StackError(f"the stacks at {ref} do not load: {exc}",
                             hint=f"`git checkout {ref}` and run `stackbuild plan` to see why") from None
        if options.registry:
            graph = with_registry(graph, options.registry)
        return Version(graph, fingerprint_graph(graph, tree))


def durations(options: api.Options, names: Iterable[str]) -> dict[str, float]:
    """Mean build time of each node that has a recorded build ({} without a history database)."""
    path = options.state / "history.db"
    if not path.exists():
        return {}
    with History(path) as history:
        found = {name: history.mean_duration(name) for name in names}
    return {name: seconds for name, seconds in found.items() if seconds is not None}


def _relative(root: Path, target: Path) -> Path:
    """target relative to root; StackError when it lies outside."""
    if not target.is_absolute():
        return target
    try:
        return target.resolve().relative_to(root.resolve())
    except ValueError:
        raise StackError(f"{target} is outside the repository {root}",
                         hint="diff compares stacks tracked by this repository") from None


def _export_named(root: Path, commit: str, tree: Path, targets: tuple[Path, ...], tops: list[str]) -> None:
    """Also export the Dockerfiles, contexts and logos the stacks name outside the exported folders (they are
    fingerprinted or read), through the links on their way as they were at commit; one missing at commit
    is left out, so loading names it."""
    named = stack_paths(tree, targets, (*PATH_KEYS, *CONTENT_KEYS))
    outside = {path for path in named if path.split("/")[0] not in tops and "." not in tops}
    gitexport.export_followed(root, commit, tree, outside, folders=True)


def _tracked(root: Path, commit: str, target: Path) -> bool:
    """Whether target (relative to root) exists in commit."""
    if not target.parts:
        return True
    return gitinfo.exists(root, commit, target.as_posix())


def _top(target: Path) -> str:
    """The top-level folder of a target, which is what gets exported."""
    return target.parts[0] if target.parts else "."

