"""The planner at scale: load, validate, expand, order, fingerprint and the affected set of big stacks.

`measure(...)` runs in a fresh subprocess per repetition (`python -m bench.planner ROOT`), so each
measurement pays imports and caches like a real `stackbuild plan` would, and reports its own peak
RSS (VmHWM of /proc/self/status). The Python heap peak is measured in a separate run under
tracemalloc (which slows everything down, so its times are not used).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import env, synth

PHASES = ("imports", "load", "expand", "order", "fingerprint", "affected", "decide")
TIME_TARGET_S, MEMORY_TARGET_MB = 2.0, 500.0


def _phases(root: Path) -> tuple[dict[str, float], int]:
    """Seconds per planner phase on the stacks below root (imports of graph/ first), and the node count."""
    start = time.perf_counter()
    from graph.change.affected import affected, directly_changed
    from graph.change.fingerprint import fingerprint_graph
    from graph.expand.assemble import find_stack_files
    from graph.expand.dag import StackGraph, graph_of
    from graph.expand.definitions import expand
    from graph.load.stackfile import load_stack
    from graph.plan.changes import decide

    times: dict[str, float] = {"imports": time.perf_counter() - start}

    def timed(name: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = work()
        times[name] = time.perf_counter() - start
        return result

    stacks = timed("load", lambda: [load_stack(root, f) for f in find_stack_files(root, [Path("stacks")])])
    nodes = timed("expand", lambda: expand(stacks))
    graph: StackGraph = timed("order", lambda: graph_of(nodes))
    fingerprints = timed("fingerprint", lambda: fingerprint_graph(graph, root))
    # a PR touching one framework definition of the first stack: compare with the graph before it
    changed = next(name for name in graph.order if graph.nodes[name].kind == "framework")
    old_nodes = dict(graph.nodes)
    old_nodes[changed] = replace(graph.nodes[changed], args=(("FRAMEWORK_VERSION", "0.9"),))
    old = StackGraph(old_nodes, graph.graph, graph.order)
    touched = timed("affected", lambda: affected(graph, directly_changed(
        graph, root, ["stacks/scale-0/stack.yaml"], old)))
    timed("decide", lambda: decide(graph, fingerprints, {}, candidates=touched))
    return times, len(graph.nodes)


def _peak_rss_mb() -> float:
    """This process's peak resident set (ru_maxrss when /proc cannot tell)."""
    return env.peak_rss_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(root: Path, mode: str) -> dict[str, Any]:
    """What one subprocess reports: phase times and peak RSS, or the tracemalloc peak, or a profile."""
    if mode == "tracemalloc":
        tracemalloc.start()
        _, count = _phases(root)
        return {"nodes": count, "tracemalloc_peak_mb": tracemalloc.get_traced_memory()[1] / 2**20}
    if mode == "profile":
        profiler = cProfile.Profile()
        profiler.enable()
        _, count = _phases(root)
        profiler.disable()
        return {"nodes": count, "hot_spots": hot_spots(pstats.Stats(profiler, stream=io.StringIO()))}
    start = time.perf_counter()
    times, count = _phases(root)
    return {"nodes": count, "phases": times, "total_s": time.perf_counter() - start,
            "peak_rss_mb": _peak_rss_mb()}


def hot_spots(stats: pstats.Stats, limit: int = 12,
              prefixes: tuple[str, ...] = ("graph/",)) -> dict[str, list[dict[str, Any]]]:
    """Where the time goes, as file:line:function: most own time overall, most cumulative below prefixes."""
    rows = []
    for (file, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"where": f"{_short(file)}:{line}:{function}", "own_s": round(own, 4),
                     "cumulative_s": round(cumulative, 4), "calls": calls})
    own_top = sorted(rows, key=lambda row: -row["own_s"])[:limit]
    project = sorted((row for row in rows if row["where"].startswith(prefixes)),
                     key=lambda row: -row["cumulative_s"])[:limit]
    return {"own_time": own_top, "graph_cumulative": project}


def _short(file: str) -> str:
    for marker in ("/graph/", "/engine/", "/bench/", "/site-packages/", "/lib/python3"):
        if marker in file:
            return file[file.index(marker) + 1:]
    return file


def _run_child(root: Path, mode: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "bench.planner", str(root), "--mode", mode],
                            capture_output=True, text=True, check=False, cwd=Path(__file__).parent.parent)
    if result.returncode != 0:
        raise RuntimeError(f"planner child failed: {result.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def measure(scale_name: str, repeats: int = 3, profile: bool | None = None) -> dict[str, Any]:
    """Phase times (min/median over repeats), peak RSS and heap of one planner-scale workload."""
    scale = synth.SCALES[scale_name]
    with tempfile.TemporaryDirectory(prefix="stackbuild-bench-planner-") as folder:
        root = Path(folder)
        synth.write_scale_stacks(root, scale)
        runs = [_run_child(root, "time") for _ in range(repeats)]
        heap = _run_child(root, "tracemalloc")
        totals = [run["total_s"] for run in runs]
        result: dict[str, Any] = {
            "scale": scale_name, "nodes": runs[0]["nodes"], "stack_files": scale.stacks, "repeats": repeats,
            "phases": {phase: _stats([run["phases"][phase] for run in runs]) for phase in PHASES},
            "total_s": _stats(totals),
            "peak_rss_mb": round(max(run["peak_rss_mb"] for run in runs), 1),
            "tracemalloc_peak_mb": round(heap["tracemalloc_peak_mb"], 1),
        }
        missed = statistics.median(totals) >= TIME_TARGET_S or result["peak_rss_mb"] >= MEMORY_TARGET_MB
        if profile or (profile is None and missed):
            result["hot_spots"] = _run_child(root, "profile")["hot_spots"]
        return result


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 4), "median": round(statistics.median(values), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one planner measurement (used by bench.run)")
    parser.add_argument("root", type=Path)
    parser.add_argument("--mode", choices=("time", "tracemalloc", "profile"), default="time")
    args = parser.parse_args(argv)
    print(json.dumps(_child(args.root, args.mode)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
