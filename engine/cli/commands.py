"""The CLI's command handlers other than build: each prints and returns an exit code."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

import yaml

from engine.cli.options import options_of
from engine.errors import EngineError
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.planner import content_ref
from engine.state.history import History
from engine.state.report import RunReport
from graph.change.fingerprint import changed_inputs, fingerprint_graph
from graph.errors import StackError
from graph.expand.assemble import find_stack_files
from graph.load.limits import Limits
from graph.load.stackfile import load_stack
from graph.plan.changes import build_reason, file_inputs
from graph.plan.entries import plan_json, plan_table
from graph.present.export import meta_files
from graph.present.lint import lint_graph, lint_tags


def plan(args: argparse.Namespace) -> int:
    """Print the plan: actions and reasons (asks the registry unless --offline)."""
    registry = None if args.offline else RegistryClient()
    entries = api.plan(options_of(args), registry, args.full, args.changed_since or "")
    print(plan_json(entries) if args.format == "json" else plan_table(entries))
    return 0


def explain(args: argparse.Namespace) -> int:
    """Print a node's inputs, what the registry holds, and which input changed since its last build."""
    options = options_of(args)
    stack_graph = api.load(options)
    if args.node not in stack_graph.nodes:
        close = difflib.get_close_matches(args.node, list(stack_graph.nodes), n=3)
        raise StackError(f"no node named {args.node!r}", hint=f"did you mean: {', '.join(close)}" if close
                         else "`stackbuild plan` lists the nodes")
    node = stack_graph.nodes[args.node]
    fingerprint = fingerprint_graph(stack_graph, options.root)[args.node]
    registry = RegistryClient()
    lines = [f"node:         {node.name} ({node.kind}, stack {node.stack})",
             f"tag:          {node.ref}", f"fingerprint:  {fingerprint.value}",
             f"content tag:  {content_ref(node, fingerprint)}", "inputs:"]
    lines += [f"  {key:<11} {value}" for key, value in sorted(fingerprint.inputs.items())]
    lines.append(f"  files       {len(fingerprint.files)} in {node.context}")
    content = None if node.external else registry.digest(content_ref(node, fingerprint))
    lines += [f"registry:     content tag {content or 'absent'}; tag {registry.digest(node.ref) or 'absent'}"]
    history_path = options.state / "history.db"
    previous = History(history_path).last_success(node.name) if history_path.exists() else None
    if previous is None:
        lines.append("last build:   none recorded")
    else:
        changed = changed_inputs(previous.inputs, file_inputs(fingerprint))
        lines.append(f"last build:   run {previous.run_id}, fingerprint {previous.fingerprint[:16]}…")
        lines.append(f"changed:      {', '.join(changed) or 'nothing'}")
    verdict = "up to date" if content else build_reason(
        fingerprint, previous.inputs if previous else None, node.parent)
    lines.append(f"verdict:      {verdict}")
    print("\n".join(lines))
    return 0


def promote(args: argparse.Namespace) -> int:
    """Re-point every tag of a lockfile to its recorded digest."""
    moved = api.promote_lockfile(options_of(args), Path(args.lockfile))
    print("\n".join(f"promoted {ref}" for ref in moved) or "nothing to promote")
    return 0


def history(args: argparse.Namespace) -> int:
    """List runs, or the nodes of one run."""
    path = options_of(args).state / "history.db"
    if not path.exists():
        raise EngineError(f"no build history at {path}", "run `stackbuild build` first")
    db = History(path)
    try:
        if args.run:
            rows = [f"{r.node:<28} {r.action:<8} {r.status:<10} {r.duration_s:>8.1f}s  {r.reason}"
                    for r in db.nodes_of(args.run)]
            print("\n".join(rows) or f"no run {args.run}")
        else:
            print(f"{'RUN':<34} {'MODE':<12} {'STATUS':<10} NODES BUILT FAILED")
            for run in db.runs(args.limit):
                print(f"{run.run_id:<34} {run.mode:<12} {run.status:<10} {run.nodes:>5} {run.built:>5} "
                      f"{run.failed:>6}")
    finally:
        db.close()
    return 0


def lint(args: argparse.Namespace) -> int:
    """Check every tag against its convention; exit 1 when one breaks it."""
    options = options_of(args)
    limits = Limits(max_nodes=options.max_nodes)
    files = find_stack_files(options.root, options.targets)
    stacks = [load_stack(options.root, file, limits) for file in files]
    problems = lint_graph(api.load(options), {stack.name: stack.convention for stack in stacks})
    if args.tags:
        convention = args.convention or next((s.convention for s in stacks if s.convention), "")
        if not convention:
            raise StackError("no convention to check --tags against", hint="pass --convention NAME")
        path = Path(args.tags)
        listed = [(f"{path}:{number}", line.strip()) for number, line in
                  enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if line.strip()]
        problems += lint_tags(listed, convention)
    for problem in problems:
        print(f"{problem.where}: {problem.tag}: {problem.problem}")
    print(f"{len(problems)} tag(s) break their convention" if problems
          else "all tags follow their conventions")
    return 1 if problems else 0


def export(args: argparse.Namespace) -> int:
    """Write openEuler meta.yml files (tag → Dockerfile) per stack and image, or a bake file."""
    if args.kind == "bake":
        import importlib

        return int(importlib.import_module("engine.cli.bake").run(args))
    options = options_of(args)
    out = Path(args.out or "build/meta")
    out_dir = out if out.is_absolute() else options.root / out
    rel = out_dir.resolve().relative_to(options.root.resolve()).as_posix()
    for relative, entries in meta_files(api.load(options), rel).items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")
        print(f"wrote {path} ({len(entries)} tags)")
    return 0


def run_summary(report: RunReport) -> str:
    """The human summary printed after a build."""
    lines = [f"{node.status:<12} {node.action:<8} {node.node:<28} {node.digest or '-'}"
             + (f"  {node.error}" if node.error else "") for node in report.nodes.values()]
    lines.append(f"{report.buildx_invocations} built, {len(report.promoted)} tags promoted, "
                 f"registry requests {sum(report.registry_requests.values())}; status {report.status}")
    lines.append(f"report: {report.folder}/report.json")
    return "\n".join(lines)
