"""A live progress block on a terminal: counts, elapsed time and the state of running nodes."""

from __future__ import annotations

import os
import threading
import time
from typing import TextIO

from engine.state.report import RunReport

CLEAR_LINE, UP = "\x1b[2K", "\x1b[1A"
MAX_ROWS = 8
DEFAULT_WIDTH = 80


class ProgressView:
    """Redraws a few lines at the bottom of a TTY; log lines written through it appear above."""

    def __init__(self, report: RunReport, stream: TextIO, interval_s: float = 0.5) -> None:
        self.report, self.stream, self.interval_s = report, stream, interval_s
        self.lock = threading.Lock()
        self.drawn = 0
        self.started = time.monotonic()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def __enter__(self) -> ProgressView:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.thread.join(timeout=2)
        with self.lock:  # the final block replaces the last one drawn (it was left twice on screen)
            self._clear()
            self._draw()

    def write(self, text: str) -> int:
        """Write log output above the block."""
        with self.lock:
            self._clear()
            self.stream.write(text)
            self._draw()
        return len(text)

    def flush(self) -> None:
        """Flush the terminal."""
        self.stream.flush()

    def lines(self) -> list[str]:
        """The block: a summary line, then one line per running or failed node."""
        nodes = [n for n in self.report.nodes.values() if n.action == "build"]
        count = {state: sum(1 for n in nodes if n.status == state)
                 for state in ("pending", "running", "succeeded", "failed", "skipped", "not_started")}
        elapsed = int(time.monotonic() - self.started)
        header = (f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {count['succeeded']}/{len(nodes)} built · "
                  f"{count['running']} running · {count['pending']} queued · {count['failed']} failed · "
                  f"{count['skipped'] + count['not_started']} not built")
        active = [n for n in nodes if n.status in ("running", "failed")][:MAX_ROWS]
        return [header] + [f"  {n.status:<9} {n.node}" for n in active]

    def _loop(self) -> None:
        while not self.done.wait(self.interval_s):
            with self.lock:
                self._clear()
                self._draw()

    def _clear(self) -> None:
        self.stream.write((UP + CLEAR_LINE) * self.drawn + "\r" if self.drawn else "")
        self.drawn = 0

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return DEFAULT_WIDTH

    def _draw(self) -> None:
        # Each line is cut to the terminal's width: a wrapped line would take two rows and the
        # next redraw, which moves up one row per line, would leave debris behind.
        width = max(self._width() - 1, 10)
        block = [line[:width] for line in self.lines()]
        self.stream.write("".join(f"{CLEAR_LINE}{line}\n" for line in block))
        self.stream.flush()
        self.drawn = len(block)
