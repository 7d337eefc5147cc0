"""What every command shares: the Options built from parsed arguments, and argument types."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.run import api
from graph.load.limits import DEFAULT_MAX_NODES


def options_of(args: argparse.Namespace) -> api.Options:
    """The Options every command shares."""
    targets = tuple(Path(t) for t in getattr(args, "targets", ())) or (Path("stacks"),)
    return api.Options(root=Path(args.root).resolve(), targets=targets, registry=args.registry,
                       state_dir=Path(args.state_dir),
                       max_nodes=getattr(args, "max_nodes", None) or DEFAULT_MAX_NODES)


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that loads stacks."""
    parser.add_argument("--max-nodes", type=positive, default=DEFAULT_MAX_NODES, metavar="N",
                        help=f"refuse stacks that expand to more than N nodes (default {DEFAULT_MAX_NODES})")


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
