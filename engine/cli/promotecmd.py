"""`stackbuild promote LOCKFILE [STACKS...]`: a rollback, checked against the stacks' children."""

from __future__ import annotations

import argparse
from pathlib import Path

import structlog

from engine.cli.options import OptionError, options_of
from engine.errors import EngineError
from engine.run import api, publishing
from engine.state.lockfile import LockfileError, read_lockfile
from engine.state.safefiles import StateError
from graph.errors import GraphError
from graph.expand.dag import StackGraph

log = structlog.get_logger()


def promote(args: argparse.Namespace) -> int:
    """Re-point every tag of a lockfile to its recorded digest."""
    options = options_of(args)
    lockfiles = [str(target) for target in options.targets if _another_lockfile(options.root, target)]
    if lockfiles:
        raise OptionError(f"promote takes one LOCKFILE; {', '.join(lockfiles)} after it would be read as "
                          "stacks (STACKS are stack files or folders)", "promote each lockfile on its own")
    moved = publishing.promote_lockfile(options, Path(args.lockfile), adopt=args.adopt,
                                        stacks=lambda: _stacks_for_rollback(options))
    print("\n".join(f"promoted {ref}" for ref in moved) or "nothing to promote")
    return 0


def _another_lockfile(root: Path, target: Path) -> bool:
    """Whether a STACKS target of promote is a lockfile (or a missing *.json, a mistyped one)."""
    path = target if target.is_absolute() else root / target
    if not path.exists():
        return path.suffix == ".json"
    try:
        return path.is_file() and bool(read_lockfile(path))
    except (LockfileError, StateError):
        return False


def _stacks_for_rollback(options: api.Options) -> StackGraph | None:
    """The loaded stacks, whose children a rollback also compares; None (a warning) when they do not
    load: the lockfile and the state folder still name the children they know."""
    try:
        return api.load(options)
    except (GraphError, EngineError) as exc:
        log.warning("rollback_check_partial", node="*", reason=str(exc).splitlines()[0],
                    hint="fix the stacks, or name them (stackbuild promote LOCKFILE STACKS...); children "
                         "the lockfile and STATE/latest.lock.json do not hold are not compared")
        return None
