"""Each issue-11 target of a bench run: what was asked, what was measured, met or not."""

from __future__ import annotations

from typing import Any

from bench.planner import MEMORY_TARGET_MB, TIME_TARGET_S

NOOP_SPEEDUP, PR_SPEEDUP, MANIFESTS_PER_NODE = 10.0, 3.0, 1.0
NOOP_WALL_S = {"synth": 1.0}  # issue 11: a no-op of the generated 29-node stack in under a second


def _scenario(results: dict[str, Any], stack: str, scenario: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = next(
        (entry for entry in results.get("engine", {}).get("scenarios", [])
         if entry["stack"] == stack and entry["scenario"] == scenario), None)
    return found


SCHEDULER_LIMITS_S = {10_000: 1.0, 100_000: 10.0}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what was asked, what was measured, met or not (None: not measured)."""
    rows: list[dict[str, Any]] = []
    stacks = sorted({entry["stack"] for entry in results.get("engine", {}).get("scenarios", [])})
    for stack in stacks:
        rows += _stack_targets(results, stack)
    rows += _planner_targets(results) + _scheduler_targets(results)
    for part in ("scale", "memory"):
        rows += results.get(part, {}).get("targets", [])
    return rows


def _stack_targets(results: dict[str, Any], stack: str) -> list[dict[str, Any]]:
    """The engine targets of one stack: no-op, PR change, cold and nightly."""
    rows: list[dict[str, Any]] = []
    noop, pr = _scenario(results, stack, "noop"), _scenario(results, stack, "pr")
    if noop:
        rows += _noop_targets(stack, noop)
    if pr:
        rows.append(_row(f"{stack}: PR change ≥{PR_SPEEDUP:g}× faster than bake",
                         f"{pr['speedup']}×{_pr_bound(pr)}", pr["speedup"] >= PR_SPEEDUP))
    for name in ("cold", "nightly"):
        entry = _scenario(results, stack, name)
        if entry:
            measured = f"stackbuild/bake = {entry['ratio']} ({entry['reps']} run(s))"
            rows.append(_row(f"{stack}: {name} no slower than bake", measured, entry["ratio"] <= 1.0))
    return rows


def _pr_bound(pr: dict[str, Any]) -> str:
    """What the bake of only the rebuilt targets reached in the same runs ('' when not measured)."""
    subtree = pr.get("subtree_bake")
    if not subtree or not subtree.get("speedup"):
        return ""
    return (f"; one bake of only the {subtree['targets']} rebuilt images: {subtree['speedup']}× (the bound "
            "of any tool that rebuilds what changed, before its own start-up and checks)")


def _noop_targets(stack: str, noop: dict[str, Any]) -> list[dict[str, Any]]:
    """The no-op targets of one stack: speed-up, wall time (where set) and manifest requests per node."""
    rows = [_row(f"{stack}: no-op ≥{NOOP_SPEEDUP:g}× faster than bake", f"{noop['speedup']}×",
                 noop["speedup"] >= NOOP_SPEEDUP)]
    if stack in NOOP_WALL_S:
        wall = noop["stackbuild"]["median"]
        rows.append(_row(f"{stack}: no-op <{NOOP_WALL_S[stack]:g} s wall", f"{wall} s (median)",
                         wall < NOOP_WALL_S[stack]))
    per_node = noop["manifest_requests_per_node"]
    rows.append(_row(f"{stack}: no-op ≤{MANIFESTS_PER_NODE:g} registry manifest request per node",
                     f"{per_node} per node (bake: "
                     f"{round(noop['bake']['requests'].get('manifests', 0) / noop['nodes'], 2)})",
                     per_node <= MANIFESTS_PER_NODE))
    return rows


def _planner_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Time and memory targets of the planner's 10k workloads."""
    rows: list[dict[str, Any]] = []
    for size in results.get("planner", {}).get("sizes", []):
        if size["scale"] == "10k":
            seconds = size["total_s"]["median"]
            rows.append(_row(f"planner: {size['nodes']} nodes in <{TIME_TARGET_S:g} s",
                             f"{seconds} s (median)", seconds < TIME_TARGET_S))
            rows.append(_row(f"planner: {size['nodes']} nodes in <{MEMORY_TARGET_MB:g} MB",
                             f"{size['peak_rss_mb']} MB peak RSS", size["peak_rss_mb"] < MEMORY_TARGET_MB))
    return rows


def _scheduler_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Scheduler overhead targets at the node counts that have a limit."""
    rows: list[dict[str, Any]] = []
    for entry in results.get("scheduler", {}).get("overhead", []):
        limit = SCHEDULER_LIMITS_S.get(entry["nodes"])
        if limit is not None:
            rows.append(_row(f"scheduler overhead, instant work: <{limit:g} s at {entry['nodes']} nodes",
                             f"{entry['seconds']} s ({entry['jobs']} jobs)", entry["seconds"] < limit))
    return rows


def _row(target: str, measured: str, met: bool) -> dict[str, Any]:
    return {"target": target, "measured": measured, "met": bool(met)}
