"""What every command shares: the Options built from parsed arguments, and argument types."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.run import api
from graph.model.checks import platform_problem


def options_of(args: argparse.Namespace) -> api.Options:
    """The Options every command shares."""
    targets = tuple(Path(t) for t in getattr(args, "targets", ())) or (Path("stacks"),)
    return api.Options(root=Path(args.root).resolve(), targets=targets, registry=args.registry,
                       state_dir=Path(args.state_dir), select=tuple(getattr(args, "select", None) or ()),
                       platforms=tuple(p for group in getattr(args, "platform", None) or () for p in group))


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def platform_list(text: str) -> tuple[str, ...]:
    """--platform: one platform or a comma-separated list, each os/arch[/variant]."""
    platforms = tuple(part.strip() for part in text.split(",") if part.strip())
    for platform in platforms:
        problem = platform_problem(platform)
        if problem:
            raise argparse.ArgumentTypeError(f"{platform!r}: {problem}")
    if not platforms:
        raise argparse.ArgumentTypeError("name a platform, e.g. linux/amd64")
    return platforms
