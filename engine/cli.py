"""The `stackbuild` command: argv in, an exit code out; errors become messages, not tracebacks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from engine import api, logs
from engine.errors import EngineError
from graph.errors import GraphError
from graph.plan import plan_json, plan_table

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    logs.configure(args.log_format)
    try:
        return int(args.handler(args))
    except GraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _options(args: argparse.Namespace) -> api.Options:
    return api.Options(root=Path(args.root).resolve(), targets=api.run_targets(args.targets),
                       registry=args.registry, state_dir=Path(args.state_dir))


def _plan(args: argparse.Namespace) -> int:
    entries = api.plan(_options(args))
    print(plan_json(entries) if args.format == "json" else plan_table(entries))
    return EXIT_OK


def _build(args: argparse.Namespace) -> int:
    from engine.builder import BuildxBuilder  # python-on-whales is needed only to build

    builder = BuildxBuilder()
    builder.check()
    report = api.build(_options(args), builder, jobs=args.jobs, keep_going=args.keep_going)
    for node in report.nodes.values():
        extra = f"  {node.error}" if node.error else ""
        print(f"{node.status:<12} {node.node:<24} {node.digest or '-'}{extra}")
    print(f"report: {report.folder}/report.json")
    return EXIT_OK if report.status == "succeeded" else EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stackbuild", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("targets", nargs="*", help="stack files or folders (default: stacks)")
    common.add_argument("--root", default=".", help="repository root (default: .)")
    common.add_argument("--registry", default=os.environ.get("STACKBUILD_REGISTRY", ""),
                        help="push below this registry prefix instead of the stacks' own "
                             "(env STACKBUILD_REGISTRY)")
    common.add_argument("--state-dir", default=os.environ.get("STACKBUILD_STATE", ".state"),
                        help="where runs, logs and reports go (env STACKBUILD_STATE)")
    common.add_argument("--log-format", choices=logs.FORMATS, default="auto")
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", parents=[common], help="print the build plan (dry run)")
    plan.add_argument("--format", choices=("table", "json"), default="table")
    plan.set_defaults(handler=_plan)

    build = commands.add_parser("build", parents=[common], help="build and push every node")
    build.add_argument("--jobs", "-j", type=_positive, default=2, help="parallel builds")
    mode = build.add_mutually_exclusive_group()
    mode.add_argument("--keep-going", action="store_true",
                      help="after a failure, still build every independent node")
    mode.add_argument("--fail-fast", dest="keep_going", action="store_false",
                      help="start nothing new after the first failure (default)")
    build.set_defaults(handler=_build)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


if __name__ == "__main__":
    sys.exit(main())
