"""Would one bake session of exactly the nodes a PR change rebuilds reach issue 11's ≥3×?

On the generated 29-node stack (or the demo stack), after one cold build by each tool, every rep
runs, one after the other and each after a fresh edit of the framework Dockerfile (as the bench's
PR scenario makes; fresh, so no way reuses another's build): `stackbuild build` (as in the bench),
`docker buildx bake` of the whole exported file (the bench's bake), and one `bake` of only the
changed targets and their descendants: children on `target:` contexts, the subtree's roots on their
unchanged parents by digest. The last is the lower bound of a stackbuild that handed a PR's rebuild
to one BuildKit session, before its own start-up and checks. Through the bench's counting proxy
and a throwaway registry. `python -m bench.subtree [--reps N] [--stack synth|demo]`, from the
repository's root.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import env, rig, timed, workspace
from bench.proxy import CountingProxy


def compare_pr(ws: workspace.Workspace, proxy: CountingProxy, reps: int) -> dict[str, list[float]]:
    """Seed both tools cold, then reps PR changes timed three ways; wall seconds per way."""
    seeds = (timed.run_stackbuild(ws, proxy, 4, "seed"), timed.run_bake(ws, proxy, "seed"))
    for run in seeds:
        if not run["ok"]:
            raise RuntimeError(run["error"])
    file, count = workspace.subtree_file(ws, seeds[1]["digests"])
    walls: dict[str, list[float]] = {"stackbuild": [], "bake": [], f"subtree bake ({count})": []}
    for rep in range(reps):
        workspace.edit_framework(ws)
        own = timed.run_stackbuild(ws, proxy, 4, f"pr{rep}")
        workspace.edit_framework(ws)
        whole = timed.run_bake(ws, proxy, f"pr{rep}")
        workspace.edit_framework(ws)
        runs = [own, whole, timed.run_bake(ws, proxy, f"subtree{rep}", bake_file=file)]
        for way, run in zip(walls, runs, strict=True):
            if not run["ok"]:
                raise RuntimeError(f"{way}: {run['error']}")
            walls[way].append(run["wall_s"])
        pairs = zip(walls, runs, strict=True)
        print(f"rep {rep}: " + ", ".join(f"{way} {run['wall_s']:.2f} s" for way, run in pairs), flush=True)
    return walls


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.subtree", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--stack", choices=("synth", "demo"), default="synth")
    args = parser.parse_args(argv)
    if problem := env.engine_problem():
        print(problem, file=sys.stderr)
        return 2
    with rig.throwaway("subtree") as bench:
        ws = (workspace.synth_workspace(bench.work, bench.prefix) if args.stack == "synth"
              else workspace.demo_workspace(bench.work, Path.cwd(), bench.prefix))
        walls = compare_pr(ws, bench.proxy, args.reps)
    medians = {way: statistics.median(values) for way, values in walls.items()}
    speedups = {way: round(medians["bake"] / value, 2) for way, value in medians.items()}
    print(json.dumps({"walls_s": walls, "medians_s": medians, "bake_over": speedups}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
