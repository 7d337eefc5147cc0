"""A run's report for CI UIs and humans: JUnit XML (one test case per node) and a Markdown summary."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from engine.state.report import NodeReport, RunReport

ICONS = {"succeeded": "✅", "failed": "❌", "skipped": "⏭️", "not_started": "⏸️", "pending": "…",
         "interrupted": "⏹️"}
NOT_BUILT = ("skipped", "not_started", "interrupted")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # XML 1.0 Char


def junit_xml(report: RunReport) -> str:
    """JUnit XML: a failed node is a failure, a node not built because of another is skipped."""
    nodes = list(report.nodes.values())
    suite = ET.Element("testsuite", name=f"stackbuild {report.run_id}", tests=str(len(nodes)),
                       failures=str(sum(n.status == "failed" for n in nodes)),
                       skipped=str(sum(n.status in NOT_BUILT for n in nodes)),
                       time=f"{sum(n.duration_s for n in nodes):.2f}", timestamp=report.started)
    for node in nodes:
        case = ET.SubElement(suite, "testcase", classname=node.ref.rsplit(":", 1)[0], name=node.node,
                             time=f"{node.duration_s:.2f}")
        if node.status == "failed":
            failure = ET.SubElement(case, "failure", message=_xml_text(node.error[:500]) or "failed")
            failure.text = f"log: {node.log}"
        elif node.status in NOT_BUILT:
            ET.SubElement(case, "skipped", message=_xml_text(node.error) or node.status)
        else:
            ET.SubElement(case, "system-out").text = f"{node.action} ({node.reason}) {node.digest}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _xml_text(text: str) -> str:
    """text without the characters XML 1.0 cannot hold (an error may quote a registry's ESC or NUL),
    which ElementTree writes as they are, making the whole file unreadable."""
    return _NOT_XML.sub("\ufffd", text)


def markdown(report: RunReport) -> str:
    """A Markdown summary fit for a pull-request comment."""
    nodes = list(report.nodes.values())
    built = [n for n in nodes if n.action == "build"]
    lines = [f"### stackbuild {report.mode} run `{report.run_id}`: {report.status}", "",
             f"{len(built)} to build, {sum(n.action == 'skip' for n in nodes)} up to date, "
             f"{sum(n.action == 'retag' for n in nodes)} retagged, {len(report.promoted)} tags published, "
             f"{sum(n.status == 'failed' for n in nodes)} failed.", "",
             "| | node | action | reason | time | tag |", "|---|---|---|---|---:|---|"]
    for node in sorted(nodes, key=lambda n: (n.action != "build", n.node)):
        lines.append(f"| {ICONS.get(node.status, '')} | `{node.node}` | {node.action} | {_cell(node)} | "
                     f"{node.duration_s:.0f}s | `{node.ref.rsplit('/', 1)[-1]}` |")
    failed = [n for n in nodes if n.status == "failed"]
    for node in failed:
        lines += ["", f"<details><summary>{node.node} failed</summary>", "", "```",
                  node.error.strip()[-1500:], "```", "</details>"]
    return "\n".join(lines) + "\n"


def _cell(node: NodeReport) -> str:
    return (node.error if node.status in NOT_BUILT else node.reason).replace("|", "\\|")


def write_summaries(report: RunReport) -> tuple[Path, Path]:
    """Write junit.xml and summary.md next to report.json."""
    folder = Path(report.folder)
    junit, summary = folder / "junit.xml", folder / "summary.md"
    junit.write_text(junit_xml(report), encoding="utf-8")
    summary.write_text(markdown(report), encoding="utf-8")
    return junit, summary
