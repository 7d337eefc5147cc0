"""What a finished build shows beyond stdout: CI annotations, log groups, job summary, a report folder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TextIO

from engine.console import ci
from engine.state.report import NodeReport, RunReport

REPORT_FILES = ("report.json", "junit.xml", "summary.md", "log.jsonl", "lock.json")


def _file_and_line(source: str) -> tuple[str, int]:
    """Split a `file:line` location; line 0 when there is none."""
    file, _, line = source.rpartition(":")
    return (file, int(line)) if file and line.isdigit() else (source, 0)


def _node_title(node: NodeReport) -> str:
    return f"{node.node}: {node.status} ({node.duration_s:.0f}s)"


def show_run(report: RunReport, stream: TextIO | None = None) -> None:
    """In CI: one collapsible group per built node with its log, an annotation per failed node."""
    out = stream or sys.stderr
    if not ci.provider():
        return
    for node in report.nodes.values():
        if node.action != "build" or node.status in ("pending", "not_started"):
            continue
        with ci.group(out, _node_title(node), key=node.node):
            out.write(ci.tail(Path(node.log)) if node.log else "(no log)\n")
    for node in report.nodes.values():
        if node.status == "failed":
            file, line = _file_and_line(node.source)
            ci.annotate(out, f"{node.node} failed: {node.error.strip()[-1000:] or 'see its log'}", file, line,
                        title=f"stackbuild: {node.node} failed")
    summary = Path(report.folder) / "summary.md"
    if summary.exists():
        ci.append_job_summary(summary.read_text(encoding="utf-8"))


def copy_reports(report: RunReport, target: Path) -> Path:
    """Copy the run's report files (those that exist) into target; target."""
    target.mkdir(parents=True, exist_ok=True)
    for name in REPORT_FILES:
        source = Path(report.folder) / name
        if source.is_file():
            shutil.copyfile(source, target / name)
    return target
