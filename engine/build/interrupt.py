"""Ctrl-C and SIGTERM: stop starting builds, stop the running ones, let the run record what finished."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

import structlog

from engine.errors import EngineError, signal_exit_code

log = structlog.get_logger()
_CAUGHT: list[str] = []  # every signal the handlers below caught: the CLI's exit code of any later error


def child_pids(parent: int) -> list[int]:
    """Processes whose parent is `parent` (read from /proc; empty where there is no /proc)."""
    children = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            children.append(int(entry.name))
    return children


def descendant_pids(parent: int) -> list[int]:
    """Every process below `parent`: its children, then theirs (the docker CLI's buildx plugin)."""
    found: list[int] = []
    frontier = [parent]
    while frontier:
        frontier = [child for pid in frontier for child in child_pids(pid)]
        found += frontier
    return found


class StopEvent(threading.Event):
    """Set by the first SIGINT or SIGTERM; remembers which one (for the exit code: 130 or 143)."""

    def __init__(self) -> None:
        super().__init__()
        self.signal = ""


def caught_signals() -> tuple[str, ...]:
    """The name of each SIGINT or SIGTERM caught so far in this process, the first first."""
    return tuple(_CAUGHT)


@contextmanager
def interruptible() -> Iterator[StopEvent]:
    """An event set by the first SIGINT or SIGTERM, which also stops our child processes (buildx, docker).

    Outside the main thread signals cannot be caught: the event is then never set.
    """
    stop = StopEvent()

    def handle(signum: int, _frame: FrameType | None) -> None:
        _CAUGHT.append(signal.Signals(signum).name)
        if not stop.is_set():
            stop.signal = signal.Signals(signum).name
            log.warning("run_interrupted", node="*", signal=stop.signal)
        stop.set()
        # the plugin too: a docker CLI that is still starting swallows the signal, its plugin then builds on
        for pid in descendant_pids(os.getpid()):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    with stop_signals_handled(handle):
        yield stop


@contextmanager
def stop_signals_handled(handle: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """handle installed for SIGINT and SIGTERM while the block runs, the previous handlers back after it;
    outside the main thread, which signals never reach, nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def exits_as_signal(stop: StopEvent) -> Iterator[None]:
    """An engine error raised once a signal arrived keeps its message but exits 130 or 143, as the
    signal would have: a calling script (`build && deploy`) stops."""
    try:
        yield
    except EngineError as exc:
        if stop.is_set():
            exc.exit_code = signal_exit_code(stop.signal)
        raise
