"""A release diff (graph.plan.release) for people and programs: JSON, an aligned table, Markdown."""

from __future__ import annotations

import json
from dataclasses import asdict

from graph.plan.release import (
    ADDED,
    CHANGES,
    DEFAULT_DURATION_S,
    REBUILT,
    REMOVED,
    Estimate,
    StackDiff,
    TagChange,
    Version,
    compare,
    estimate,
)

__all__ = [  # the comparison is graph.plan.release's; its names stay importable from here
    "ADDED", "CHANGES", "DEFAULT_DURATION_S", "FOLD_ROWS", "REBUILT", "REMOVED", "Estimate", "StackDiff",
    "TagChange", "Version", "compare", "diff_json", "diff_markdown", "diff_table", "duration", "estimate",
    "estimate_line", "summary_line",
]

FOLD_ROWS = 25  # a Markdown table longer than this is folded into <details>


def diff_json(diff: StackDiff, ref1: str, ref2: str, commits: tuple[str, str] = ("", "")) -> str:
    """The diff as a JSON document."""
    summary: dict[str, int] = {change: len(diff.of(change)) for change in CHANGES}
    document: dict[str, object] = {
        "ref1": ref1, "ref2": ref2, "commit1": commits[0], "commit2": commits[1],
        "summary": {**summary, "unchanged": diff.unchanged},
        **{change: [asdict(item) for item in diff.of(change)] for change in CHANGES},
        "estimate": asdict(diff.estimate),
    }
    return json.dumps(document, indent=2)


def duration(seconds: float) -> str:
    """A duration for people: 45s, 3m05s, 1h02m."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def summary_line(diff: StackDiff) -> str:
    """`2 added, 1 removed, 3 rebuilt, 5 unchanged`."""
    return ", ".join([f"{len(diff.of(change))} {change}" for change in CHANGES]
                     + [f"{diff.unchanged} unchanged"])


def estimate_line(diff: StackDiff) -> str:
    """The build-time estimate in one sentence."""
    est = diff.estimate
    if not est.builds:
        return "estimate: nothing to build"
    text = (f"estimate: {est.builds} build(s), {duration(est.total_s)} one after another, critical path "
            f"{duration(est.critical_path_s)} ({' → '.join(est.critical_path)})")
    if est.unknown:
        text += f"; * {len(est.unknown)} without build history, counted as {duration(est.default_s)} each"
    return text


def _title(ref1: str, ref2: str, commits: tuple[str, str]) -> str:
    """`v1 (1a2b3c4) → v2 (5d6e7f8)`."""
    sides = [f"{ref} ({commit[:7]})" if commit and not commit.startswith(ref) else ref
             for ref, commit in zip((ref1, ref2), commits, strict=True)]
    return " → ".join(sides)


def _cost(change: TagChange) -> str:
    """The build-time cell: `-` without a build, `*` after a default estimate."""
    if not change.build:
        return "-"
    return duration(change.duration_s) + ("" if change.duration_known else "*")


def diff_table(diff: StackDiff, ref1: str, ref2: str, commits: tuple[str, str] = ("", "")) -> str:
    """The diff as an aligned text table with a summary and the estimate."""
    rows = [("CHANGE", "NODE", "BUILD", "REASON", "TAG")]
    rows += [(item.change, item.node, _cost(item), item.reason, item.ref) for item in diff.changes]
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    lines = [f"diff {_title(ref1, ref2, commits)}: {summary_line(diff)}"]
    if diff.changes:
        lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  "
                  + row[-1] for row in rows]
    lines.append(estimate_line(diff))
    return "\n".join(line.rstrip() for line in lines)


def _sentence(text: str) -> str:
    """text with a capital first letter."""
    return text[:1].upper() + text[1:]


def _cell(text: str) -> str:
    """text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or "-"


def diff_markdown(diff: StackDiff, ref1: str, ref2: str, commits: tuple[str, str] = ("", "")) -> str:
    """The diff as Markdown for a pull-request comment."""
    lines = [f"### Image changes {_cell(_title(ref1, ref2, commits))}", "",
             f"**{summary_line(diff)}**. {_cell(_sentence(estimate_line(diff)))}.", ""]
    if not diff.changes:
        return "\n".join([*lines, "No published tag changes."])
    if len(diff.changes) > FOLD_ROWS:
        lines += [f"<details><summary>{len(diff.changes)} changed tags</summary>", ""]
    lines += ["| change | tag | node | reason | changed inputs | build |",
              "| --- | --- | --- | --- | --- | --- |"]
    for item in diff.changes:
        changed = ", ".join(name.removeprefix("file:") for name in item.changed[:4])
        changed += " …" if len(item.changed) > 4 else ""
        lines.append(f"| {item.change} | `{_cell(item.ref)}` | {_cell(item.node)} | {_cell(item.reason)} | "
                     f"{_cell(changed)} | {_cell(_cost(item))} |")
    if len(diff.changes) > FOLD_ROWS:
        lines += ["", "</details>"]
    return "\n".join(lines)
