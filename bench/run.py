"""The benchmark suite: `python -m bench.run` (what `make bench` runs) writes results.json and results.md.

1. stackbuild beside docker buildx bake (bench/versus.py): cold, no-op, PR change and nightly on a
   generated 29-node stack and on the demo stack, on the real engine.
2. The planner at scale (bench/planner.py): 1k and 10k generated nodes, time and peak memory.
3. Scheduler quality (bench/sched.py): makespans of simulated builds against FIFO and the bound.
4. A no-op build of the generated 10k-node stacks against a registry filled by manifest PUTs
   (bench/noop_scale.py), and stackbuild's peak RSS while pushing a 2 GiB layer (bench/bigpush.py).

`--quick` runs tiny sizes without Docker (the smoke test of the suite itself).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import env, judge, planner, report, sched, synth

ROOT = Path(__file__).resolve().parent.parent
# Per-node seconds of a cold `stackbuild build stacks/demo --jobs 4 --no-test` on this machine
# (bench run of 2026-11-22): used for the scheduler simulation when the engine part does not run.
DEMO_RECORDED_S = {
    "debian": 11.41, "python-sdk": 185.42, "numpy": 56.98, "python-sdk-dev": 36.12, "tinygrad": 106.04,
    "chat-2": 7.14, "chat-3": 5.86, "numpy-dev": 50.89, "tinygrad-dev": 21.98, "ymir": 8.19,
    "chat-2-dev": 51.19, "chat-3-dev": 19.28, "ymir-dev": 38.25,
}


def _git() -> str:
    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    changed = len(git("status", "--porcelain").splitlines())
    if not head:
        return "not a git tree"
    return f"commit {head}" + (f" with {changed} uncommitted file(s)" if changed else "")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no Docker, one run each")
    parser.add_argument("--out-dir", default=str(ROOT / "bench"), help="where results.json/.md go")
    parser.add_argument("--reps", type=int, default=3, help="runs per scenario (default 3)")
    parser.add_argument("--demo-cold-reps", type=int, default=1,
                        help="cold runs of the demo stack (default 1: ~5 min per tool, arm64 under QEMU)")
    parser.add_argument("--demo-nightly-reps", type=int, default=0,
                        help="nightly runs of the demo stack (default 0: the same work as a cold run)")
    parser.add_argument("--jobs", type=int, default=4, help="stackbuild --jobs (default 4)")
    parser.add_argument("--stacks", default="synth,demo", help="engine stacks to compare (synth,demo)")
    for part in ("engine", "planner", "scheduler", "scale", "memory"):
        parser.add_argument(f"--skip-{part}", action="store_true", help=f"do not run the {part} part")
    parser.add_argument("--work-dir", help="scratch folder (default: a new temporary one, removed after)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run every part not skipped, write results.json and results.md; the exit status."""
    args = _parser().parse_args(argv)
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="stackbuild-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"meta": _meta(args, argv)}
    notes: list[str] = []
    env.compile_bytecode(ROOT)
    try:
        marker = _measure(args, work, progress, results, notes)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    results["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    results["meta"]["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    results["targets"] = judge.targets(results)
    results["notes"] = notes
    _write(out_dir, results, progress)
    if marker:
        from bench import versus

        versus.cleanup_images(marker, progress)
    return 1 if any(isinstance(part, dict) and part.get("failed") for part in results.values()) else 0


def _meta(args: argparse.Namespace, argv: Sequence[str] | None) -> dict[str, Any]:
    """What labels the results: mode, command line, machine and source tree."""
    return {
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "machine": env.machine(with_docker=not args.quick), "git": _git(),
    }


def _measure(args: argparse.Namespace, work: Path, progress: Any, results: dict[str, Any],
             notes: list[str]) -> str:
    """Every part into results; the marker of the images the engine part pushes ("" when it does not run)."""
    marker = ""
    # the planner first: nothing of the engine runs is still settling in the background then
    results["planner"] = _part("planner", lambda: _planner(args, progress), progress, notes)
    if _engine_runs(args):
        from bench import versus

        marker = versus.image_marker()
    results["engine"] = _part("engine", lambda: _engine(args, work, progress, notes, marker), progress, notes)
    results["scheduler"] = _part("scheduler", lambda: _scheduler(args, results["engine"], progress, notes),
                                 progress, notes)
    results["scale"] = _part("scale", lambda: _scale(args, work, progress), progress, notes)
    results["memory"] = _part("memory", lambda: _memory(args, work, progress), progress, notes)
    return marker


def _part(name: str, measure: Callable[[], dict[str, Any]], progress: Any,
          notes: list[str]) -> dict[str, Any]:
    """One part's results; a part that fails is reported as not run, so the others are still written."""
    try:
        return measure()
    except Exception as exc:  # any failure of one part must not lose the others
        reason = f"failed: {type(exc).__name__}: {str(exc)[-600:]}"
        progress(f"{name}: {reason}")
        notes.append(f"The {name} part {reason}")
        return {"skipped": reason, "failed": True}


def _write(out_dir: Path, results: dict[str, Any], progress: Any) -> None:
    """results.json and results.md in out_dir."""
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out_dir / "results.md").write_text(report.markdown(results), encoding="utf-8")
    progress(f"wrote {out_dir / 'results.json'} and {out_dir / 'results.md'}")


def _engine_runs(args: argparse.Namespace) -> bool:
    return not (args.quick or args.skip_engine) and not env.engine_problem()


def _engine(args: argparse.Namespace, work: Path, progress: Any, notes: list[str],
            marker: str) -> dict[str, Any]:
    if args.quick or args.skip_engine:
        return {"skipped": "quick mode (no Docker)" if args.quick else "--skip-engine"}
    problem = env.engine_problem()
    if problem:
        return {"skipped": problem}
    reps = max(1, args.reps)
    plan: dict[str, dict[str, int]] = {}
    for label in args.stacks.split(","):
        if label == "synth":
            plan["synth"] = {"cold": reps, "noop": reps, "pr": reps, "nightly": reps}
        elif label == "demo":
            plan["demo"] = {"cold": max(1, args.demo_cold_reps), "noop": reps, "pr": reps,
                            "nightly": args.demo_nightly_reps}
    if "demo" in plan:
        notes.append(f"The demo stack's cold build ran {plan['demo']['cold']} time(s) per tool (its arm64 "
                     "apt and pip steps run under QEMU and take minutes); the generated stack "
                     f"({synth.build_stack_size()} nodes, FROM scratch + COPY) ran every scenario {reps} "
                     "times.")
        if not plan["demo"]["nightly"]:
            notes.append("The demo's nightly rebuild was not run (it redoes the cold build's work: add "
                         "`--demo-nightly-reps 1`, about 10 more minutes); nightly is measured on the "
                         "generated stack.")
    notes.append("PR change: an `ENV BENCH_CHANGE=<random>` line appended to one framework Dockerfile "
                 "(demo: tinygrad, so tinygrad and tinygrad-dev rebuild; generated stack: framework a, 8 of "
                 "29 nodes). stackbuild runs incrementally (content fingerprints), not with --changed-since.")
    progress(f"engine: {plan}")
    from bench import versus

    return versus.run_engine(work, ROOT, args.jobs, plan, progress, marker)


def _planner(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    if args.skip_planner:
        return {"skipped": "--skip-planner"}
    sizes = ("tiny",) if args.quick else ("1k", "10k")
    measured = []
    for name in sizes:
        progress(f"planner: {name} ({synth.SCALES[name].nodes} nodes)")
        measured.append(planner.measure(name, repeats=1 if args.quick else max(1, args.reps)))
        progress(f"planner: {name} total {measured[-1]['total_s']['median']} s, "
                 f"peak RSS {measured[-1]['peak_rss_mb']} MB")
    return {"time_target_s": planner.TIME_TARGET_S, "memory_target_mb": planner.MEMORY_TARGET_MB,
            "sizes": measured}


def _scheduler(args: argparse.Namespace, engine: dict[str, Any], progress: Any,
               notes: list[str]) -> dict[str, Any]:
    if args.skip_scheduler:
        return {"skipped": "--skip-scheduler"}
    from engine.run import api

    repeats = 1 if args.quick else max(1, args.reps)
    jobs = (1, 2) if args.quick else sched.JOBS
    graphs = []
    demo = api.load(api.Options(root=ROOT, targets=(Path("stacks/demo"),)))
    recorded = next((entry["recorded_durations"] for entry in engine.get("scenarios", [])
                     if entry["stack"] == "demo" and entry["scenario"] == "cold"
                     and entry["recorded_durations"]), None)
    durations = {name: float((recorded or DEMO_RECORDED_S).get(name, 30.0)) for name in demo.order}
    source = f"recorded in {'this run' if recorded else 'an earlier run'}'s cold demo build"
    graphs.append(sched.evaluate("demo", demo.graph, durations, demo.order, source, "seconds", repeats,
                                 _budget(args.quick, len(demo.order)), jobs, progress))
    with tempfile.TemporaryDirectory(prefix="stackbuild-bench-sched-") as folder:
        root = Path(folder)
        synth.write_build_stack(root)
        synth.write_scale_stacks(root, synth.SCALES["tiny" if args.quick else "small"])
        for label, target in (("generated 29-node stack", "stacks/synth"),
                              ("generated planner-scale stack", "stacks/scale-0")):
            stack = api.load(api.Options(root=root, targets=(Path(target),)))
            kinds = {name: node.kind for name, node in stack.nodes.items()}
            dev = {name: node.variant == "dev" for name, node in stack.nodes.items()}
            durations = sched.long_tail_durations(kinds, dev)
            graphs.append(sched.evaluate(label, stack.graph, durations, stack.order,
                                         "log-normal by kind (sigma 0.8), 5 % of nodes 8× longer",
                                         "minutes", repeats, _budget(args.quick, len(stack.order)), jobs,
                                         progress))
    notes.append("Scheduler: measured makespans include thread wake-up latency (a few percent at this "
                 "scale); the exact simulation of the same policy is given beside them.")
    sizes = (1_000, 10_000) if args.quick else (10_000, 100_000)
    progress(f"scheduler overhead over instant work at {', '.join(map(str, sizes))} nodes")
    return {"jobs": list(jobs), "graphs": graphs, "overhead": sched.overhead(sizes)}


def _scale(args: argparse.Namespace, work: Path, progress: Any) -> dict[str, Any]:
    """The no-op build of the generated 10k-node stacks (bench/noop_scale.py)."""
    if args.quick or args.skip_scale:
        return {"skipped": "quick mode" if args.quick else "--skip-scale"}
    if shutil.which("docker-registry") is None or env.engine_problem():
        return {"skipped": env.engine_problem() or "docker-registry is not installed"}
    from bench import noop_scale

    progress("scale: no-op build of the generated 10k-node stacks")
    result = noop_scale.measure(work / "noop-scale", "10k", progress)
    progress(f"scale: no-op {result['noop_s']} s, {result['per_node']} manifest requests per node")
    return {"result": result, "targets": noop_scale.targets(result)}


def _memory(args: argparse.Namespace, work: Path, progress: Any) -> dict[str, Any]:
    """Peak RSS while pushing a 2 GiB layer with --jobs 4 (bench/bigpush.py), and of the retry proxy
    pushing the same (bench/proxymem.py)."""
    if args.quick or args.skip_memory:
        return {"skipped": "quick mode" if args.quick else "--skip-memory"}
    if env.engine_problem():
        return {"skipped": env.engine_problem()}
    from bench import bigpush, proxymem

    progress("memory: pushing a 2 GiB layer with --jobs 4")
    result = bigpush.measure(work / "bigpush")
    progress(f"memory: peak RSS {result['peak_rss_mb']} MB; the same blobs through the retry proxy")
    proxied = proxymem.measure(work / "proxymem")
    progress(f"memory: retry proxy peak RSS {proxied['peak_rss_mb']} MB")
    return {"result": result, "proxy": proxied,
            "targets": bigpush.targets(result) + proxymem.targets(proxied)}


def _budget(quick: bool, nodes: int) -> float:
    """Seconds a one-job simulated run lasts: long enough that each node sleeps ~10 ms or more."""
    return 0.02 if quick else min(2.0, max(0.6, 0.01 * nodes))


if __name__ == "__main__":
    sys.exit(main())
