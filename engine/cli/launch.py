"""The console script's entry: import the command with the garbage collector paused, then run it."""

from __future__ import annotations

import gc


def main() -> int:
    """Import engine.cli.main without collections, then run it.

    Importing the CLI makes ~300 modules' worth of objects that live as long as the process; the
    collector, triggered by those allocations, scans them again and again for nothing (about a third
    of a no-op's start-up). Frozen afterwards, later collections skip them.
    """
    gc.disable()
    try:
        from engine.cli.main import main as run
    finally:
        gc.freeze()
        gc.enable()
    return run()
