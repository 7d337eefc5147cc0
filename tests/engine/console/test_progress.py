"""engine.console.progress: the live block never wraps, so each redraw erases exactly what it drew."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import termios

from engine.console.progress import ProgressView
from engine.state.report import NodeReport, RunReport


def _report() -> RunReport:
    report = RunReport("r", "/nowhere", "now")
    for index in range(3):
        name = f"pytorch-2.4.0-cann-8.0.RC3-openeuler-2403lts-very-long-node-name-{index}"
        report.nodes[name] = NodeReport(name, f"r/{name}:1", "build", "full", status="running")
    return report


def test_block_lines_are_cut_to_the_terminal_width() -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    stream = os.fdopen(slave, "w", encoding="utf-8", closefd=True)
    try:
        view = ProgressView(_report(), stream)
        view._draw()
        stream.flush()
        raw = os.read(master, 65536).decode("utf-8")
    finally:
        stream.close()
        os.close(master)
    drawn = [line.replace("\x1b[2K", "") for line in raw.replace("\r\n", "\n").split("\n") if line]
    assert len(drawn) == 4  # the header and three running nodes: one terminal row each
    assert all(len(line) <= 39 for line in drawn), drawn
    assert drawn[1] == "  running   pytorch-2.4.0-cann-8.0.RC3-"
    assert view.drawn == 4
