"""The console script's entry: import the command with the garbage collector paused, then run it."""

from __future__ import annotations

import gc
import sys


def main() -> int:
    """Import engine.cli.main without collections, then run it; a build starts its engine check first.

    Importing the CLI makes ~300 modules' worth of objects that live as long as the process; the
    collector, triggered by those allocations, scans them again and again for nothing (about a third
    of a no-op's start-up). Frozen afterwards, later collections skip them.
    """
    argv = sys.argv[1:]
    if argv[:1] == ["build"] and not {"-h", "--help"} & set(argv):
        from engine.build.probes import start_engine_probes

        start_engine_probes()  # answers while the rest is imported; asked only if something is built
    gc.disable()
    try:
        from engine.cli.main import main as run
    finally:
        gc.freeze()
        gc.enable()
    return run()
