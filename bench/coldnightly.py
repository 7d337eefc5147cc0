"""Only the cold and nightly scenarios of bench/versus.py, on the generated stack, with stackbuild variants.

`python -m bench.coldnightly --reps 3 --variant default= --variant none=--cache,none` runs, per rep,
`docker buildx bake` and every stackbuild variant (its extra flags, comma-separated) back to back, the
order rotated each rep, and prints each run and the median ratio variant / bake per scenario.

Cold without `docker buildx prune` (which would empty the shared builder's cache under other work):
before every cold run the generated files get a new salt, so no layer is in any cache, and the
throwaway registry is emptied. Nightly: one unmeasured seeding run per tool on fixed content, then
`stackbuild build --full` beside `docker buildx bake --no-cache --pull`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import env, rig, synth, timed, workspace
from bench.proxy import CountingProxy

Run = Callable[[str], dict[str, Any]]


def salt(ws: workspace.Workspace, value: str) -> None:
    """Rewrite every generated file of the stack from a new seed: a build of it is cold."""
    stack = ws.root / ws.target
    for files in sorted(stack.rglob("files")):
        synth._files(files.parent, f"{files.parent.relative_to(stack)}/{value}")


def _variants(specs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        name, _, flags = spec.partition("=")
        out[name] = tuple(flag for flag in flags.split(",") if flag)
    return out or {"default": ()}


def _rotated(items: list[str], rep: int) -> list[str]:
    shift = rep % len(items)
    return items[shift:] + items[:shift]


def _measure(name: str, run: Run, label: str, out: list[dict[str, Any]]) -> None:
    load = os.getloadavg()
    result = run(label)
    row = {"tool": name, "label": label, "load_before": [round(x, 2) for x in load],
           "wall_s": result["wall_s"], "ok": result["ok"], "solves": result["solves"],
           "requests": {k: v for k, v in result["requests"].items() if k != "by_method"},
           "error": result.get("error", "")[-400:]}
    out.append(row)
    print(f"  {label:12} {name:14} {result['wall_s']:7.1f}s ok={result['ok']} "
          f"requests={result['requests']['total']} load={row['load_before'][0]}", flush=True)


def _stackbuild(ws: workspace.Workspace, proxy: CountingProxy, jobs: int, tool: str, flags: tuple[str, ...],
                full: bool = False) -> Run:
    return lambda label: timed.run_stackbuild(ws, proxy, jobs, f"{label}-{tool}", full=full, extra=flags)


def cold(ws: workspace.Workspace, proxy: CountingProxy, registry: env.ThrowawayRegistry,
         variants: dict[str, tuple[str, ...]], reps: int, jobs: int) -> list[dict[str, Any]]:
    """Each rep: bake and every variant, each on fresh content and an empty registry."""
    rows: list[dict[str, Any]] = []
    tools = ["bake", *variants]
    for rep in range(reps):
        for tool in _rotated(tools, rep):
            salt(ws, uuid.uuid4().hex)
            registry.reset()
            shutil.rmtree(ws.state, ignore_errors=True)
            if tool == "bake":
                _measure(tool, lambda label: timed.run_bake(ws, proxy, label), f"cold{rep}", rows)
            else:
                _measure(tool, _stackbuild(ws, proxy, jobs, tool, variants[tool]), f"cold{rep}", rows)
    return rows


def nightly(ws: workspace.Workspace, proxy: CountingProxy, registry: env.ThrowawayRegistry,
            variants: dict[str, tuple[str, ...]], reps: int, jobs: int) -> list[dict[str, Any]]:
    """Seed once per tool on fixed content, then each rep: bake --no-cache --pull and every variant --full."""
    salt(ws, "nightly")
    registry.reset()
    shutil.rmtree(ws.state, ignore_errors=True)
    seed: list[dict[str, Any]] = []
    _measure("bake", lambda label: timed.run_bake(ws, proxy, label), "seed", seed)
    for tool, flags in variants.items():
        _measure(tool, _stackbuild(ws, proxy, jobs, tool, flags), "seed", seed)
    rows: list[dict[str, Any]] = []
    for rep in range(reps):
        for tool in _rotated(["bake", *variants], rep):
            if tool == "bake":
                _measure(tool, lambda label: timed.run_bake(ws, proxy, label, no_cache=True),
                         f"nightly{rep}", rows)
            else:
                _measure(tool, _stackbuild(ws, proxy, jobs, tool, variants[tool], full=True),
                         f"nightly{rep}", rows)
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median wall time per tool, and per variant its median / bake's median and per-rep ratios."""
    walls: dict[str, list[float]] = {}
    for row in rows:
        if row["ok"]:
            walls.setdefault(row["tool"], []).append(row["wall_s"])
    bake = statistics.median(walls["bake"]) if walls.get("bake") else 0.0
    by_label = {(row["label"], row["tool"]): row["wall_s"] for row in rows if row["ok"]}
    out: dict[str, Any] = {"bake_median_s": round(bake, 2), "reps": len(walls.get("bake", []))}
    for tool, values in walls.items():
        if tool == "bake":
            continue
        pairs = [by_label[(label, tool)] / by_label[(label, "bake")] for label, name in by_label
                 if name == "bake" and (label, tool) in by_label]
        requests = statistics.median(row["requests"]["total"] for row in rows if row["tool"] == tool)
        out[tool] = {"median_s": round(statistics.median(values), 2),
                     "ratio": round(statistics.median(values) / bake, 3) if bake else None,
                     "rep_ratios": [round(p, 3) for p in pairs], "requests": requests}
    out["bake_requests"] = statistics.median(row["requests"]["total"] for row in rows
                                             if row["tool"] == "bake")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldnightly", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--scenarios", default="cold,nightly")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=FLAG,FLAG...: a stackbuild variant (default: one with no extra flag)")
    parser.add_argument("--out", help="write every run and the summary here (JSON)")
    parser.add_argument("--keep-logs", help="copy every run's log (stackbuild's JSON log, bake's) here")
    args = parser.parse_args(argv)
    if problem := env.engine_problem():
        print(problem, file=sys.stderr)
        return 2
    variants = _variants(args.variant)
    results: dict[str, Any] = {"date": env.machine(with_docker=False)["date"], "variants": variants,
                               "load_start": [round(x, 2) for x in os.getloadavg()]}
    started = time.monotonic()
    with rig.throwaway("coldnightly") as bench:
        ws = workspace.synth_workspace(bench.work, bench.prefix)
        try:
            for scenario in args.scenarios.split(","):
                print(f"{scenario} ({ws.nodes} nodes)", flush=True)
                runner = cold if scenario == "cold" else nightly
                rows = runner(ws, bench.proxy, bench.registry, variants, args.reps, args.jobs)
                results[scenario] = {"runs": rows, "summary": summary(rows)}
                print(json.dumps(results[scenario]["summary"], indent=1), flush=True)
        finally:
            if args.keep_logs:
                shutil.copytree(ws.logs, args.keep_logs, dirs_exist_ok=True)
    results["load_end"] = [round(x, 2) for x in os.getloadavg()]
    results["wall_s"] = round(time.monotonic() - started, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
