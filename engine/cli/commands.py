"""The CLI's command handlers other than build: each prints and returns an exit code."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

from engine.cli.options import OptionError, options_of, secret_allowances, secret_policy_of
from engine.cli.outfile import write_output
from engine.errors import EngineError
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.planner import base_digests, content_ref
from engine.state.digestmemo import load_memo
from engine.state.history import History, NodeRecord
from engine.state.report import RunReport
from engine.state.safefiles import StateError, read_bounded
from graph.change.fingerprint import Fingerprint, changed_inputs, fingerprint_graph
from graph.errors import StackError
from graph.expand.assemble import find_stack_files
from graph.expand.dag import StackGraph
from graph.load.limits import Limits
from graph.load.stackfile import load_stack
from graph.model.checks import control_problem
from graph.model.secrets import SecretPolicy
from graph.model.spec import Node
from graph.plan.changes import Observed, build_reason, external_reason, file_inputs
from graph.plan.entries import PlanEntry, plan_json, plan_table
from graph.present import ci
from graph.present.lint import WARNING, errors, lint_graph, lint_tags, listed_tags

MAX_TAG_LIST = 16 * 1024 * 1024
TAGS_HINT = "name a UTF-8 text file with one tag a line"


def plan(args: argparse.Namespace) -> int:
    """Print the plan: actions and reasons (asks the registry unless --offline)."""
    _check_emit_options(args)
    registry = None if args.offline else RegistryClient()
    entries = api.plan(options_of(args), registry, args.full, args.changed_since or "", _plan_secrets(args))
    if args.emit:
        return _emit(args, entries)
    print(plan_json(entries) if args.format == "json" else plan_table(entries))
    return 0


def _check_emit_options(args: argparse.Namespace) -> None:
    """OptionError for what only --emit takes without it, and for what --emit cannot combine."""
    given = {"--no-publish": args.no_publish, "--ci-runner": args.ci_runner, "--ci-image": args.ci_image,
             "--ci-setup": args.ci_setup}
    emit_only = [flag for flag, value in given.items() if value]
    if emit_only and not args.emit:
        raise OptionError(f"{', '.join(emit_only)}: only with --emit (they shape the emitted jobs)",
                          f"drop {' '.join(emit_only)}, or add --emit github|gitlab")
    github_only = [f"{flag}: {value!r}" for flag, values in given.items() if flag.startswith("--ci-")
                   for value in ([values] if isinstance(values, str) else values or ()) if "${{" in value]
    if args.emit == "gitlab" and github_only:
        raise OptionError(f"{github_only[0]} holds a GitHub expression, which GitLab does not expand",
                          "use a GitLab CI/CD variable ($NAME) instead")
    if args.emit and args.offline and args.changed_since:
        raise OptionError("--emit --changed-since cannot be --offline: which parents a PR's jobs build or "
                          "share a job with depends on what the registry holds", "drop --offline")


def _plan_secrets(args: argparse.Namespace) -> SecretPolicy | None:
    """The policy the planned build checks secrets against, as build's; with --emit none here: each job
    checks on its runner, whose paths and environment these allowances name (passed on, not read)."""
    if args.emit:
        return SecretPolicy(withhold=True) if args.no_secrets else None
    return secret_policy_of(args)


def _emit(args: argparse.Namespace, entries: tuple[PlanEntry, ...]) -> int:
    """Write the CI shards of the plan to --out, or print them."""
    tail = shard_command(args)
    # an untrusted run (a fork's pull request) publishes nothing: its shards get content tags only
    not_publishing = "--no-secrets" if args.no_secrets else "--no-publish" if args.no_publish else ""
    build_flags = [*secret_allowances(args), *(["--full"] if args.full else [])]  # publish forces nothing
    text = ci.render(entries, args.emit, tail, build_flags=build_flags, publish=not not_publishing,
                     runner=_runner(args))
    if not args.out:
        print(text, end="")
        return 0
    write_output(Path(args.out), text)
    publish = f", no publish job: {not_publishing}" if not_publishing else " and publish"
    print(f"wrote {args.out} ({text.count('stackbuild build --only')} build jobs{publish})")
    return 0


def _runner(args: argparse.Namespace) -> ci.Runner:
    """Where and how the emitted jobs run: --ci-runner, --ci-image, --ci-setup; the whole history for a
    PR's jobs."""
    return ci.Runner(tuple(args.ci_runner or ()), args.ci_image or "", tuple(args.ci_setup or ()),
                     history=bool(args.changed_since))


def shard_command(args: argparse.Namespace) -> list[str]:
    """The arguments every emitted job repeats: the targets, --registry, --select and --no-secrets given
    to plan (with --no-secrets there is no publish job)."""
    if args.platform:
        raise OptionError("--emit: --platform is not supported (a shard builds every platform, and "
                          "publish moves tags that keep every platform)", "drop --platform")
    tail = list(getattr(args, "targets", None) or [])
    if args.registry:
        tail += ["--registry", args.registry]
    for pattern in args.select or ():
        tail += ["--select", pattern]
    if getattr(args, "no_secrets", False):  # shards build as planned; publish looks for their content tags
        tail.append("--no-secrets")
    if getattr(args, "changed_since", None):  # jobs and publish plan the PR's nodes, as build does
        tail += ["--changed-since", args.changed_since]
    return tail


def publish(args: argparse.Namespace) -> int:
    """Check every planned node's content tag is in the registry, then move the human tags."""
    moved = api.publish(options_of(args), adopt=args.adopt, withheld=args.no_secrets,
                        changed_since=args.changed_since or "")
    print("\n".join(f"promoted {ref}" for ref in moved) or "every human tag is already in place")
    return 0


def explain(args: argparse.Namespace) -> int:
    """Print a node's inputs, what the registry holds, and which input changed since its last build."""
    options = options_of(args)
    stack_graph = api.load_to_send(options)
    if args.node not in stack_graph.nodes:
        close = difflib.get_close_matches(args.node, list(stack_graph.nodes), n=3)
        raise StackError(f"no node named {args.node!r}", hint=f"did you mean: {', '.join(close)}" if close
                         else "`stackbuild plan` lists the nodes")
    node = stack_graph.nodes[args.node]
    registry = RegistryClient()
    history_path = options.state / "history.db"
    history = History(history_path) if history_path.exists() else None
    try:
        bases = base_digests(stack_graph, registry, history)
        previous = history.last_success(node.name) if history else None
    finally:
        if history:
            history.close()
    memo = load_memo(options.state) if history else None  # read only, as `plan` does
    fingerprint = fingerprint_graph(stack_graph, options.root, bases, memo, args.no_secrets)[args.node]
    lines = [f"node:         {node.name} ({node.kind}, stack {node.stack})",
             f"tag:          {node.ref}", f"fingerprint:  {fingerprint.value}",
             f"content tag:  {content_ref(node, fingerprint)}", "inputs:"]
    lines += [f"  {key:<11} {value or '(unresolved)'}" for key, value in sorted(fingerprint.inputs.items())]
    lines.append(f"  files       {len(fingerprint.files)} in {node.context}")
    content = None if node.external else registry.digest(content_ref(node, fingerprint))
    lines += [f"registry:     content tag {content or 'absent'}; tag {registry.digest(node.ref) or 'absent'}"]
    if previous is None:
        lines.append("last build:   none recorded")
    else:
        changed = changed_inputs(previous.inputs, file_inputs(fingerprint))
        lines.append(f"last build:   run {previous.run_id}, fingerprint {previous.fingerprint[:16]}…")
        lines.append(f"changed:      {', '.join(changed) or 'nothing'}")
    lines.append(f"verdict:      {_verdict(stack_graph, node, fingerprint, content, previous)}")
    print("\n".join(lines))
    return 0


def _verdict(stack_graph: StackGraph, node: Node, fingerprint: Fingerprint, content: str | None,
             previous: NodeRecord | None) -> str:
    """up to date, or why the node needs a build (an external base: resolved, moved or unresolved)."""
    inputs = previous.inputs if previous else None
    if node.external:
        return external_reason(node.external, fingerprint, Observed(previous_inputs=inputs))
    parent = stack_graph.nodes[node.parent] if node.parent else None
    return "up to date" if content else build_reason(fingerprint, inputs, node.parent,
                                                      parent.external if parent else "")


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
            print(_shown("\n".join(rows)) or f"no run {args.run}")
        else:
            print(f"{'RUN':<34} {'MODE':<12} {'STATUS':<10} NODES BUILT FAILED")
            for run in db.runs(args.limit):
                print(_shown(f"{run.run_id:<34} {run.mode:<12} {run.status:<10} {run.nodes:>5} "
                             f"{run.built:>5} {run.failed:>6}"))
    finally:
        db.close()
    return 0


def _shown(text: str) -> str:
    """text with control characters escaped (history rows come from a file anyone may have edited)."""
    return "\n".join(line.encode("unicode_escape").decode("ascii") if control_problem(line) else line
                     for line in text.split("\n"))


def lint(args: argparse.Namespace) -> int:
    """Check every tag against its convention; exit 1 when one breaks it."""
    options = options_of(args)
    limits = Limits(max_nodes=options.max_nodes)
    files = find_stack_files(options.root, options.targets)
    stacks = [load_stack(options.root, file, limits) for file in files]
    problems = lint_graph(api.load(options), {stack.name: stack.convention for stack in stacks},
                          {d.name: d.convention for stack in stacks for d in stack.definitions})
    if args.tags:
        convention = args.convention or next((s.convention for s in stacks if s.convention), "")
        if not convention:
            raise StackError("no convention to check --tags against", hint="pass --convention NAME")
        path = Path(args.tags)
        listed = listed_tags(str(path), _tag_list(path))
        problems += lint_tags(listed, convention)
    for problem in problems:
        marker = "warning: " if problem.severity == WARNING else ""
        print(f"{problem.where}: {problem.tag}: {marker}{problem.problem}")
    broken, warned = len(errors(problems)), len(problems) - len(errors(problems))
    summary = f"{broken} tag(s) break their convention" if broken else "all tags follow their conventions"
    print(summary + (f", {warned} out of order (warnings)" if warned else ""))
    return 1 if broken else 0


def _tag_list(path: Path) -> str:
    """The text of a --tags file: a regular UTF-8 file of at most MAX_TAG_LIST bytes."""
    try:
        text = read_bounded(path, MAX_TAG_LIST, follow_symlinks=True).decode("utf-8")
    except StateError as exc:
        raise OptionError(f"--tags: cannot read {path}: {exc.reason}", TAGS_HINT) from None
    except UnicodeDecodeError as exc:
        raise OptionError(f"--tags: {path} is not UTF-8 text (byte {exc.start})", TAGS_HINT) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if problem := control_problem(line.strip()):
            raise OptionError(f"--tags: {path}:{number}: {problem}", TAGS_HINT)
    return text


def export(args: argparse.Namespace) -> int:
    """Write openEuler meta.yml files and their tag folders (EulerPublisher's layout), or a bake file."""
    import importlib

    module = "engine.cli.bake" if args.kind == "bake" else "engine.cli.metaexport"
    return int(importlib.import_module(module).run(args))


def run_summary(report: RunReport) -> str:
    """The human summary printed after a build."""
    lines = [f"{node.status:<12} {node.action:<8} {node.node:<28} {node.digest or '-'}"
             + (f"  {node.error}" if node.error else "") for node in report.nodes.values()]
    requests = sum(report.registry_requests.values())
    published = (f"{len(report.promoted)} tags set locally" if report.mode == "local" else  # build --load
                 f"{len(report.promoted)} tags promoted, registry requests {requests}")
    repeats = f" ({report.fault_repeats} more after registry faults)" if report.fault_repeats else ""
    lines.append(f"{report.builds} built{repeats}, {published}; status {report.status}")
    lines.append(f"report: {report.folder}/report.json")
    return "\n".join(lines)
