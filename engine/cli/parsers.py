"""The `stackbuild` command line: every command, its options and its handler (argparse; the options
of build are in buildcmd, those of sign and verify in signing)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import cast

from engine.cli import buildcmd, commands, promotecmd, signing
from engine.cli.options import (
    IntermixedParser,
    add_load_options,
    add_secret_options,
    platform_list,
    positive,
    whole,
)
from engine.console import logs
from graph.model.secrets import ALLOW_FLAG, ALLOW_VARIABLE, ENV_ALLOW_FLAG, ENV_ALLOW_VARIABLE


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", default=".", help="repository root (default: .)")
    common.add_argument("--registry", default=None,
                        help="push below this registry prefix instead of the stacks' own "
                             "(env STACKBUILD_REGISTRY)")
    common.add_argument("--state-dir", default=None,
                        help="where runs, logs, history and lockfiles go (env STACKBUILD_STATE)")
    common.add_argument("--log-format", choices=logs.FORMATS,
                        help="console lines (auto, CI too) or JSON lines (env STACKBUILD_LOG_FORMAT=json)")
    return common


def command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackbuild", description="Build layered, multi-arch container image stacks from YAML with "
        "docker buildx; rebuild only what changed.")
    parser.add_argument("--version", action="version", version=f"stackbuild {_version()}")
    common = _common()
    targets = argparse.ArgumentParser(add_help=False)
    targets.add_argument("targets", nargs="*", help="stack files or folders (default: stacks)")
    narrowing = argparse.ArgumentParser(add_help=False)
    narrowing.add_argument("--select", action="append", default=[], metavar="GLOB",
                           help="only nodes whose name or tag matches (and what they are built on); "
                                "repeatable")
    narrowing.add_argument("--platform", action="append", type=platform_list, metavar="PLATFORM",
                           help="only these platforms, e.g. linux/amd64 (repeatable or comma-separated)")
    add_load_options(targets)
    # the top level only finds the subcommand (argparse cannot intermix around subparsers); the
    # subcommand's own parser takes its options and positional arguments in any order
    sub = cast("argparse._SubParsersAction[argparse.ArgumentParser]",
               parser.add_subparsers(dest="command", required=True, parser_class=IntermixedParser))
    _add_build_commands(sub, common, targets, narrowing)
    _add_state_commands(sub, common, targets)
    _add_planning_commands(sub, common, targets)
    _add_prune(sub, common, targets)
    signing.add_parsers(sub, common, targets)
    return parser


def _add_build_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                        common: argparse.ArgumentParser, targets: argparse.ArgumentParser,
                        narrowing: argparse.ArgumentParser) -> None:
    """plan, build and publish."""
    parents = [common, targets, narrowing]
    _add_plan(sub.add_parser("plan", parents=parents, help="print the build plan (dry run)"))
    buildcmd.add_options(sub.add_parser("build", parents=parents, help="build, test and publish"))
    publish = sub.add_parser("publish", parents=parents,
                             help="after CI shards: check every node is built, then move the human tags")
    publish.add_argument("--adopt", action="store_true",
                         help="take over human tags that point at images this project never built")
    publish.add_argument("--no-secrets", action="store_true",
                         help="publish what shards built with --no-secrets (the content tags of a run "
                              "without the secrets)")
    publish.add_argument("--changed-since", metavar="REF",
                         help="after a PR's shards (plan --emit --changed-since REF): only the nodes that "
                              "change affects are checked and published")
    publish.set_defaults(handler=commands.publish)


def _add_plan(plan: argparse.ArgumentParser) -> None:
    """The options of `plan`."""
    plan.add_argument("--format", choices=("table", "json"), default="table")
    plan.add_argument("--changed-since", metavar="REF", help="PR mode: only what changed since REF")
    plan.add_argument("--full", action="store_true", help="plan the nightly full rebuild")
    plan.add_argument("--offline", action="store_true",
                      help="do not ask the registry what exists (every node is planned as a build)")
    plan.add_argument("--emit", choices=("github", "gitlab"),
                      help="write a CI workflow (GitHub Actions) or child pipeline (GitLab): one job per "
                           "node to build, then a publish job")
    plan.add_argument("--out", help="with --emit: write to this file (default: stdout)")
    plan.add_argument("--no-publish", action="store_true",
                      help="with --emit: no publish job (a pull request's check: content tags only)")
    plan.add_argument("--ci-runner", action="append", metavar="LABEL",
                      help="with --emit: the runner label of every job (repeatable; GitHub runs-on, default "
                           "ubuntu-latest; GitLab tags)")
    plan.add_argument("--ci-image", metavar="IMAGE",
                      help="with --emit: the image every job runs in (GitHub container, GitLab image)")
    plan.add_argument("--ci-setup", action="append", metavar="COMMAND",
                      help="with --emit: a shell command every job runs before stackbuild, e.g. "
                           "'pip install .' (repeatable; GitHub run steps, GitLab before_script)")
    plan.add_argument("--no-secrets", action="store_true",
                      help="plan as `build --no-secrets` runs (a node declaring secrets, and what is built "
                           "on it, has the fingerprints of a run without them)")
    plan.add_argument(ALLOW_FLAG, action="append", default=[], metavar="PATH",
                      help="a host file, or a folder, that stack secrets may read besides the repository: "
                           f"checked as build checks it (repeatable; env {ALLOW_VARIABLE}); with --emit "
                           "a path on the runners, passed to every build job")
    plan.add_argument(ENV_ALLOW_FLAG, action="append", default=[], metavar="NAME",
                      help="an environment variable `env:` stack secrets may read, checked as build checks "
                           f"it (repeatable; env {ENV_ALLOW_VARIABLE}); with --emit, passed to every build "
                           "job")
    plan.set_defaults(handler=commands.plan)


def _add_state_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                        common: argparse.ArgumentParser, targets: argparse.ArgumentParser) -> None:
    """explain, promote, history, lint and export."""
    explain = sub.add_parser("explain", parents=[common, targets], help="why a node is (not) rebuilt")
    explain.add_argument("--node", required=True, help="the node to explain")
    explain.add_argument("--no-secrets", action="store_true",
                         help="explain the node as `build --no-secrets` fingerprints it")
    explain.set_defaults(handler=commands.explain)

    promote = sub.add_parser("promote", parents=[common], help="re-point tags to a lockfile's digests")
    promote.add_argument("lockfile", help="a lock.json written by a run")
    promote.add_argument("targets", nargs="*", help="stack files or folders whose children a rollback "
                                                    "also compares (default: the targets setting, else "
                                                    "stacks)")
    add_load_options(promote)
    promote.add_argument("--adopt", action="store_true",
                         help="also move tags that point at images this project never built")
    promote.set_defaults(handler=promotecmd.promote)

    history = sub.add_parser("history", parents=[common], help="list past runs, or one run's nodes")
    history.add_argument("--run", help="show the nodes of this run")
    history.add_argument("--limit", type=positive, default=20)
    history.set_defaults(handler=commands.history)

    lint = sub.add_parser("lint", parents=[common, targets], help="check tags against their convention")
    lint.add_argument("--tags", metavar="FILE", help="also check a list of existing tags (one a line)")
    lint.add_argument("--convention", help="convention for --tags (default: the stack's)")
    lint.set_defaults(handler=commands.lint)

    export = sub.add_parser("export", parents=[common], help="write files for other tools")
    export.add_argument("kind", choices=("meta", "bake"),
                        help="meta: openEuler meta.yml files and tag folders (EulerPublisher); "
                             "bake: a docker-bake.json")
    export.add_argument("targets", nargs="*", help="stack files or folders (default: stacks)")
    add_load_options(export)
    export.add_argument("--out", help="output folder (meta, default build/meta) or file (bake, default "
                                      "build/docker-bake.json)")
    export.add_argument("--link-base", metavar="URL",
                        help="meta: link each tag in the image pages to <URL>/<stack>/<image>/<folder>/"
                             "Dockerfile, URL being where the output folder is published")
    add_secret_options(export, "bake: write no stack secret into the file (as build --no-secrets)")
    export.set_defaults(handler=commands.export)


def _add_planning_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                           common: argparse.ArgumentParser, targets: argparse.ArgumentParser) -> None:
    """graph, diff, images and check: release planning and the catalogue."""
    graph = sub.add_parser("graph", parents=[common, targets], help="draw the plan's DAG (dry run)")
    graph.add_argument("--format", choices=("dot", "svg", "png", "mermaid", "html"), default="svg")
    graph.add_argument("--out", help="output file (default: stdout for text formats)")
    graph.add_argument("--select", action="append", default=[], metavar="PATTERN",
                       help="only nodes matching this glob (and their ancestors, greyed); repeatable")
    graph.add_argument("--changed-since", metavar="REF", help="only what a change since REF affects")
    graph.add_argument("--cluster", choices=("stack", "sdk", "none"), default="stack")
    graph.add_argument("--offline", action="store_true", help="do not ask the registry (actions: build)")
    graph.set_defaults(handler=_lazy("engine.cli.draw"))

    diff = sub.add_parser("diff", parents=[common], help="compare the stacks at two git refs")
    diff.add_argument("ref1")
    diff.add_argument("ref2")
    diff.add_argument("targets", nargs="*", help="stack files or folders (default: stacks)")
    add_load_options(diff)
    diff.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    diff.set_defaults(handler=_lazy("engine.cli.diff"))

    images = sub.add_parser("images", parents=[common, targets], help="query the built images")
    for attr in ("framework", "version", "sdk", "sdk-version", "python", "os", "accelerator", "scope",
                 "layer", "stack"):
        version_help = f"filter on {attr} ('latest': the newest release; 'latest-pre': pre-releases too)"
        images.add_argument(f"--{attr}", help=version_help if attr == "version" else f"filter on {attr}")
    images.add_argument("--best", action="store_true", help="only the single best match")
    images.add_argument("--format", choices=("table", "json"), default="table")
    images.set_defaults(handler=_lazy("engine.cli.images"))

    check = sub.add_parser("check", parents=[common, targets], help="check built images against contracts")
    check.add_argument("--select", action="append", default=[], metavar="PATTERN")
    check.set_defaults(handler=_lazy("engine.cli.check"))


def _add_prune(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser,
               targets: argparse.ArgumentParser) -> None:
    """prune (alias gc): the registry's clean-up."""
    prune = sub.add_parser("prune", aliases=["gc"], parents=[common, targets],
                           help="delete the content, candidate and cache tags nothing keeps (dry run unless "
                                "--yes)")
    prune.add_argument("--yes", "--delete", dest="yes", action="store_true",
                       help="delete (default: list what would be deleted and what is kept, and why)")
    prune.add_argument("--keep-runs", type=whole, default=5, metavar="N",
                       help="keep what the newest N runs' lockfiles record (default 5)")
    prune.add_argument("--keep-days", type=whole, default=0, metavar="D",
                       help="also keep what the lockfiles written in the last D days record (default 0)")
    prune.add_argument("--quiet", "-q", action="store_true", help="list only what is to be deleted (table)")
    prune.add_argument("--format", choices=("table", "json"), default="table",
                       help="json: one document on stdout, written when prune is done (or stopped)")
    prune.set_defaults(handler=_lazy("engine.cli.prune"))


def _version() -> str:
    """The installed distribution's version, or 'unknown' when run from a bare checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stackbuild")
    except PackageNotFoundError:
        return "unknown"


def _lazy(module: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports module only when its command runs, then calls module.run(args)."""

    def handler(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).run(args))

    return handler

