"""`stackbuild graph`: draw the plan's DAG as DOT, Mermaid, SVG, PNG or a self-contained HTML page."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from engine.cli.options import options_of
from engine.cli.outfile import write_output
from engine.errors import EngineError
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.prchanges import pr_changes
from engine.state import gitinfo
from graph.change.affected import affected
from graph.expand.dag import StackGraph
from graph.expand.selection import select
from graph.plan.entries import EXTERNAL, SKIP, PlanEntry
from graph.present.render import View, make_view, to_dot, to_html, to_mermaid

DOT_TIMEOUT_S = 120
PNG_DPI = 96
UNCHANGED = "unchanged_since_ref"  # the reason PR mode gives a node the change does not affect
INSTALL_HINT = "install Graphviz: `apt-get install graphviz`, or run `make setup`"
Focus = set[str] | None


def run(args: argparse.Namespace) -> int:
    """Plan (dry run), narrow to --select / --changed-since, render and write or print."""
    options = options_of(args)
    stack_graph, entries, focus = _plan(options, args.offline, args.changed_since or "")
    if args.select:
        chosen = select(stack_graph, args.select)
        focus = chosen if focus is None else focus & chosen
    view = make_view(stack_graph, entries, focus, args.cluster, _title(args, options.root))
    _write(render(view, args.format), args.out, args.format, view)
    return 0


def _plan(options: api.Options, offline: bool, ref: str) -> tuple[StackGraph, tuple[PlanEntry, ...], Focus]:
    """The graph, its plan and, in PR mode, the nodes the change affects (the rest is context)."""
    stack_graph = api.load_to_send(options)
    if offline and ref:
        return stack_graph, *_offline_pr(stack_graph, options, ref)
    if offline:
        return stack_graph, api.plan(options), None
    entries = api.plan(options, RegistryClient(), changed_since=ref)
    focus = {e.node for e in entries if e.reason != UNCHANGED and e.action != EXTERNAL} if ref else None
    return stack_graph, entries, focus


def _offline_pr(stack_graph: StackGraph, options: api.Options,
                ref: str) -> tuple[tuple[PlanEntry, ...], set[str]]:
    """PR mode without the registry: what the change affects is a build, everything else a skip."""
    touched = pr_changes(stack_graph, options.root, ref, options.targets)
    hit = affected(stack_graph, touched)

    def entry_of(entry: PlanEntry) -> PlanEntry:
        if entry.action == EXTERNAL:
            return entry
        if entry.node not in hit:
            return replace(entry, action=SKIP, reason=UNCHANGED)
        return replace(entry, reason=touched.get(entry.node) or f"parent_rebuilt: {entry.parent}")

    return tuple(entry_of(entry) for entry in api.plan(options)), hit


def _title(args: argparse.Namespace, root: Path) -> str:
    parts = [f"stackbuild graph {' '.join(args.targets) or 'stacks'}"]
    if args.changed_since:
        parts.append(_since(root, args.changed_since))
    if args.select:
        parts.append(f"select {', '.join(args.select)}")
    if args.offline:
        parts.append("offline (registry not asked)")
    return " · ".join(parts)


def _since(root: Path, ref: str) -> str:
    """'changed since REF', naming the merge base the change is measured from when REF moved on since."""
    base = gitinfo.merge_base(root, ref)
    if base == gitinfo.resolve(root, ref):
        return f"changed since {ref}"
    return f"changed since {ref} (merge base {base[:12]})"


def render(view: View, fmt: str) -> str | bytes:
    """The drawing in fmt: text for dot, mermaid, svg and html; bytes for png."""
    if fmt == "mermaid":
        return to_mermaid(view)
    dot = to_dot(view)
    if fmt == "dot":
        return dot
    if fmt == "png":
        return graphviz(dot, "png")
    svg = graphviz(dot, "svg").decode("utf-8")
    return to_html(view, svg) if fmt == "html" else svg


def graphviz(dot: str, fmt: str) -> bytes:
    """Lay out a DOT text with Graphviz `dot` (argument list, no shell, with a timeout)."""
    binary = shutil.which("dot")
    if binary is None:
        raise EngineError("Graphviz `dot` is not on PATH (needed for svg, png and html)",
                          f"{INSTALL_HINT}; dot and mermaid output need no Graphviz")
    command = [binary, f"-T{fmt}", *([f"-Gdpi={PNG_DPI}"] if fmt == "png" else [])]
    try:
        done = subprocess.run(command, input=dot.encode("utf-8"), capture_output=True,
                              timeout=DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise EngineError(f"`dot -T{fmt}` took more than {DOT_TIMEOUT_S}s",
                          "draw fewer nodes with --select") from None
    except OSError as exc:
        raise EngineError(f"cannot run {binary}: {exc}", INSTALL_HINT) from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise EngineError(f"`dot -T{fmt}` failed with exit code {done.returncode}: "
                          f"{lines[-1] if lines else 'no message'}", "try --format dot to see its input")
    return done.stdout


def _write(data: str | bytes, out: str | None, fmt: str, view: View) -> None:
    """To --out (relative to the current folder), else to stdout (png only when not a terminal)."""
    if out:
        write_output(Path(out), data)
        print(f"wrote {out} ({fmt}, {view.summary})")
    elif isinstance(data, bytes):
        if sys.stdout.isatty():
            raise EngineError("a png is not printed on a terminal", "pass --out FILE.png")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        sys.stdout.write(data)
