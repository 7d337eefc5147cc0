"""stackbuild beside `docker buildx bake`: the same stacks, builder and registry, four scenarios.

Both tools push through one CountingProxy in front of one throwaway registry (stackbuild below
`localhost:<proxy>/bench-<run>/sb-<stack>`, bake below `.../bake-<stack>`, so neither sees the
other's tags), on the same default buildx builder. Scenarios, in this order per stack:

- cold: empty registry (bake: its repositories), `docker buildx prune -af`, no stackbuild state;
- noop: nothing changed since the last build;
- pr: one framework Dockerfile edited (an `ENV BENCH_CHANGE=<random>` line appended); after each pair,
  a fresh edit and one bake of only the targets that edit rebuilds (their parents by digest): what
  any tool that rebuilds only what changed would need at least;
- nightly: `stackbuild build --full` beside `docker buildx bake --no-cache --pull`.

stackbuild runs through its real CLI with `--no-test` (bake has no smoke tests) and its default
registry layer cache; bake runs on a file written by `stackbuild export bake`.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import env, timed, workspace
from bench.proxy import CountingProxy
from bench.workspace import Workspace

Progress = Callable[[str], None]


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [run["wall_s"] for run in runs]
    kinds = sorted({key for run in runs for key in run["requests"] if key != "by_method"})
    return {
        "wall_s": walls, "min": round(min(walls), 3), "median": round(statistics.median(walls), 3),
        "solves": [run["solves"] for run in runs],
        "requests": {kind: statistics.median(run["requests"].get(kind, 0) for run in runs) for kind in kinds},
        "requests_by_method": runs[-1]["requests"]["by_method"],
        "ok": all(run["ok"] for run in runs),
        "errors": [run["error"] for run in runs if run["error"]],
    }


def _line(run: dict[str, Any]) -> str:
    failed = "" if run["ok"] else ", FAILED"
    return f"{run['wall_s']:.1f}s ({run['solves']} solves, {run['requests']['total']} requests{failed})"


def _clean_slate(registry: env.ThrowawayRegistry | None, progress: Progress) -> None:
    """Cold start: (an empty registry and) an empty build cache.

    Local images the bench pushed earlier stay until the end of the run: BuildKit does not use
    the image store as a build cache, so they do not make a build warm.
    """
    start = time.monotonic()
    if registry is not None:
        registry.reset()
    env.prune_build_cache()
    progress(f"clean slate: build cache pruned{', registry emptied' if registry else ''} "
             f"({time.monotonic() - start:.1f}s)")


@dataclass
class _Runs:
    """Both tools' runs so far, by scenario in the order they ran; record() also reports each pair."""

    ws: Workspace
    progress: Progress
    sb: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    bake: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    subtree: list[dict[str, Any]] = field(default_factory=list)  # bake of only what a PR rebuilds
    subtree_targets: int = 0

    def record(self, scenario: str, rep: int, sb: dict[str, Any], bake: dict[str, Any]) -> None:
        """Keep one stackbuild run and one bake run of a scenario, and report them."""
        self.sb.setdefault(scenario, []).append(sb)
        self.bake.setdefault(scenario, []).append(bake)
        self.progress(f"{self.ws.label} {scenario} #{rep + 1}: stackbuild {_line(sb)} | bake {_line(bake)}")


def compare(ws: Workspace, proxy: CountingProxy, registry: env.ThrowawayRegistry, jobs: int,
            reps: dict[str, int], progress: Progress) -> list[dict[str, Any]]:
    """Every scenario on one workspace; reps per scenario (cold runs first, they seed the rest)."""
    runs = _Runs(ws, progress)
    noop_profile: dict[str, Any] = {}
    _cold_runs(ws, proxy, registry, jobs, reps, runs)
    if all(run["ok"] for run in runs.sb["cold"] + runs.bake["cold"]):
        noop_profile = _warm_runs(ws, proxy, jobs, reps, runs)
    summaries = [_scenario_summary(ws, scenario, sb_runs, runs.bake[scenario], noop_profile)
                 for scenario, sb_runs in runs.sb.items()]
    for summary in summaries:
        if summary["scenario"] == "pr" and runs.subtree:
            summary["subtree_bake"] = _subtree_summary(runs, summary["bake"]["median"])
    return summaries


def _cold_runs(ws: Workspace, proxy: CountingProxy, registry: env.ThrowawayRegistry, jobs: int,
               reps: dict[str, int], runs: _Runs) -> None:
    """The cold scenario, each run from a clean slate; stops at the first failed run."""
    for rep in range(max(1, reps.get("cold", 1))):
        # stackbuild on an empty registry; bake after it on a registry holding only stackbuild's
        # repositories (its own are empty: blobs are linked per repository, so it uploads them all)
        _clean_slate(registry, runs.progress)
        shutil.rmtree(ws.state, ignore_errors=True)
        workspace.fresh_roots(ws)  # both tools build the same new stack: nothing earlier can serve it
        sb = timed.run_stackbuild(ws, proxy, jobs, f"cold{rep}")
        _clean_slate(None, runs.progress)
        bake = timed.run_bake(ws, proxy, f"cold{rep}")
        runs.record("cold", rep, sb, bake)
        if not (sb["ok"] and bake["ok"]):
            break


def _warm_runs(ws: Workspace, proxy: CountingProxy, jobs: int, reps: dict[str, int],
               runs: _Runs) -> dict[str, Any]:
    """The no-op, PR change and nightly scenarios after the cold runs; returns the no-op profile."""
    for rep in range(reps.get("noop", 3)):
        name = f"noop{rep}"
        runs.record("noop", rep, timed.run_stackbuild(ws, proxy, jobs, name), timed.run_bake(ws, proxy, name))
    noop_profile = timed.profile_stackbuild(ws, proxy, jobs)
    subtree_file = _subtree_file(ws, runs) if reps.get("pr", 3) else None
    for rep in range(reps.get("pr", 3)):
        workspace.edit_framework(ws)
        own, whole = timed.run_stackbuild(ws, proxy, jobs, f"pr{rep}"), timed.run_bake(ws, proxy, f"pr{rep}")
        runs.record("pr", rep, own, whole)
        if subtree_file:
            workspace.edit_framework(ws)  # a fresh edit: the subtree must not reuse the whole bake's build
            runs.subtree.append(timed.run_bake(ws, proxy, f"subtree{rep}", bake_file=subtree_file))
            runs.progress(f"{ws.label} pr #{rep + 1}: bake of the rebuilt subtree only "
                          f"{_line(runs.subtree[-1])}")
    for rep in range(reps.get("nightly", 3)):
        runs.record("nightly", rep, timed.run_stackbuild(ws, proxy, jobs, f"nightly{rep}", full=True),
                    timed.run_bake(ws, proxy, f"nightly{rep}", no_cache=True))
    return noop_profile


def _subtree_file(ws: Workspace, runs: _Runs) -> Path | None:
    """The bake file of only what a PR change rebuilds, on the last cold bake's digests (None: no digests)."""
    digests = runs.bake["cold"][-1].get("digests", {})
    if not digests:
        return None
    path, runs.subtree_targets = workspace.subtree_file(ws, digests)
    return path


def _subtree_summary(runs: _Runs, bake_median: float) -> dict[str, Any]:
    """The bake of a PR's rebuilt subtree: its runs, its targets and its speed-up over the whole bake."""
    summary = _summary(runs.subtree)
    return {**summary, "targets": runs.subtree_targets,
            "speedup": round(bake_median / summary["median"], 2) if summary["median"] else None}


def _scenario_summary(ws: Workspace, scenario: str, sb_runs: list[dict[str, Any]],
                      bake_runs: list[dict[str, Any]], noop_profile: dict[str, Any]) -> dict[str, Any]:
    """One scenario's result: both tools' summaries, their ratio and speed-up, manifests per node."""
    sb_sum, bake_sum = _summary(sb_runs), _summary(bake_runs)
    return {
        "stack": ws.label, "nodes": ws.nodes, "scenario": scenario, "reps": len(sb_runs),
        "stackbuild": sb_sum, "bake": bake_sum,
        "ratio": round(sb_sum["median"] / bake_sum["median"], 3) if bake_sum["median"] else None,
        "speedup": round(bake_sum["median"] / sb_sum["median"], 2) if sb_sum["median"] else None,
        "manifest_requests_per_node": round(sb_sum["requests"].get("manifests", 0) / ws.nodes, 2),
        "recorded_durations": sb_runs[0]["durations"] if scenario == "cold" else {},
        **({"stackbuild_profile": noop_profile} if scenario == "noop" and noop_profile else {}),
    }


def image_marker() -> str:
    """A string in every repository one bench run pushes to (and names its local images after)."""
    return f"/bench-{uuid.uuid4().hex[:8]}/"


def cleanup_images(marker: str, progress: Progress) -> None:
    """Remove the local images this run named (see env.remove_images)."""
    log = Path(tempfile.gettempdir()) / f"stackbuild-bench-cleanup{marker.replace('/', '-')}log"
    count, how = env.remove_images(marker, log)
    progress(f"removed the {count} local images of this run ({how})")


def run_engine(work: Path, repo_root: Path, jobs: int, plan: dict[str, dict[str, int]],
               progress: Progress, marker: str) -> dict[str, Any]:
    """Every scenario on the synthetic stack and the demo stack; plan: stack → scenario → reps."""
    registry = env.ThrowawayRegistry(work / "registry").start()
    results: list[dict[str, Any]] = []
    try:
        with CountingProxy("127.0.0.1", registry.port) as proxy:
            progress(f"registry on 127.0.0.1:{registry.port}, counting proxy on localhost:{proxy.port}")
            prefix = f"localhost:{proxy.port}{marker.rstrip('/')}"
            for label in plan:
                ws = (workspace.synth_workspace(work, prefix) if label == "synth"
                      else workspace.demo_workspace(work, repo_root, prefix))
                progress(f"{label}: {ws.nodes} nodes, reps {plan[label]}")
                results += compare(ws, proxy, registry, jobs, plan[label], progress)
    finally:
        registry.stop()
    return {"stackbuild_jobs": jobs, "plan": plan, "scenarios": results}
