"""The `stackbuild` command: argv in, an exit code out; errors become messages, not tracebacks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from engine.cli.exits import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK
from engine.cli.options import checked
from engine.cli.parsers import command_parser
from engine.console import ci, logs
from engine.errors import EngineError
from graph.errors import GraphError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = command_parser().parse_args(argv)
    try:
        args = checked(args)
        logs.configure(args.log_format)
        return int(args.handler(args))
    except GraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        location = exc.location
        ci.annotate(sys.stderr, str(exc), location.file if location else "", location.line if location else 0,
                    title="stackbuild: bad stack file")
        return EXIT_BAD_INPUT
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `stackbuild plan | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # e.g. --out in a folder nobody can write to
        where = f"cannot use {exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc} (check the path and its permissions)", file=sys.stderr)
        return EXIT_BAD_INPUT


def parse_checked(argv: Sequence[str], environ: Mapping[str, str]) -> argparse.Namespace:
    """argv parsed, defaults filled from environ and the project file, every value checked."""
    return checked(command_parser().parse_args(argv), environ)
