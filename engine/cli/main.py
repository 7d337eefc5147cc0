"""The `stackbuild` command: argv in, an exit code out; errors become messages, not tracebacks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from engine.build.interrupt import caught_signals
from engine.cli.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from engine.cli.options import checked
from engine.cli.parsers import command_parser
from engine.console import ci, logs
from engine.errors import EngineError, signal_exit_code
from graph.errors import GraphError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = command_parser().parse_args(argv)
    signals_before = len(caught_signals())
    try:
        args = checked(args)
        logs.configure(args.log_format)
        return int(args.handler(args))
    except (Exception, KeyboardInterrupt) as exc:
        # any error once a Ctrl-C or SIGTERM arrived exits 130 or 143: a calling script sees the stop
        arrived = caught_signals()[signals_before:]
        if not arrived and not isinstance(exc, (GraphError, EngineError, KeyboardInterrupt, OSError)):
            raise  # a defect: its traceback
        code = told(exc)
        return signal_exit_code(arrived[0]) if arrived else code


def told(exc: BaseException) -> int:
    """Say exc on stderr (what, where, how to fix; no traceback); the exit code it calls for."""
    if isinstance(exc, GraphError):
        print(f"error: {exc}", file=sys.stderr)
        location = exc.location
        ci.annotate(sys.stderr, str(exc), location.file if location else "", location.line if location else 0,
                    title="stackbuild: bad stack file")
        return EXIT_BAD_INPUT
    if isinstance(exc, EngineError):
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):  # e.g. `stackbuild plan | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    if isinstance(exc, OSError):  # e.g. --out in a folder nobody can write to
        where = f"cannot use {exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc} (check the path and its permissions)", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"error: {exc or type(exc).__name__}", file=sys.stderr)  # only once a signal arrived
    return EXIT_FAILED


def parse_checked(argv: Sequence[str], environ: Mapping[str, str]) -> argparse.Namespace:
    """argv parsed, defaults filled from environ and the project file, every value checked."""
    return checked(command_parser().parse_args(argv), environ)
