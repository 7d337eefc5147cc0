"""Is one BuildKit session per wave faster than one buildx process per node? (issue 11's bake-per-wave)

On the generated 29-node stack, cold each time (fresh content, empty registry), the exported bake file
run three ways: whole (one `bake`, children on `target:` contexts), one `bake` per wave of ready
targets, and one `bake` process per target with every ready target started at once; the last two get
their parents by digest (`docker-image://repo@sha256:...`) as stackbuild does. No cache export, no
retry proxy: only the session question. `python -m bench.waves [--reps N]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench import coldnightly, env, rig, timed, workspace
from bench.bakefile import bake_digests, on_digests, target_parents

MODES = ("bake", "waves", "per-target")


def _ready(targets: dict[str, Any], done: set[str]) -> list[str]:
    """Targets not built yet whose `target:` parent is built."""
    return [name for name, target in targets.items() if name not in done and target_parents(target) <= done]


def _bake(ws: workspace.Workspace, group: list[str], wave: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start one `docker buildx bake --push` of group (targets of wave)."""
    file = ws.root / f"wave-{group[0]}.json"
    file.write_text(json.dumps({"target": {name: wave[name] for name in group}}), encoding="utf-8")
    return subprocess.Popen(["docker", "buildx", "bake", "-f", str(file), "--push", "--progress", "plain",
                             "--metadata-file", str(file.with_suffix(".meta")), *group], cwd=ws.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_waves(ws: workspace.Workspace, per_target: bool) -> tuple[float, int]:
    """Build every target wave by wave; (seconds, bake processes)."""
    targets = json.loads(ws.bake_file.read_text(encoding="utf-8"))["target"]
    digests: dict[str, str] = {}
    started, calls = time.monotonic(), 0
    while len(digests) < len(targets):
        wave = {name: on_digests(targets[name], targets, digests) for name in _ready(targets, set(digests))}
        groups = [[name] for name in wave] if per_target else [list(wave)]
        running = [(group, _bake(ws, group, wave)) for group in groups]
        calls += len(running)
        for group, process in running:
            if process.wait() != 0:
                raise RuntimeError(f"bake of {group} failed")
            built = bake_digests(ws.root / f"wave-{group[0]}.meta")
            digests.update({name: built[name] for name in group})
    return time.monotonic() - started, calls


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.waves", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args(argv)
    if problem := env.engine_problem():
        print(problem, file=sys.stderr)
        return 2
    with rig.throwaway("waves") as bench:
        ws = workspace.synth_workspace(bench.work, bench.prefix)
        for rep in range(args.reps):
            for mode in MODES:
                coldnightly.salt(ws, uuid.uuid4().hex)
                bench.registry.reset()
                if mode == "bake":
                    seconds, calls = timed.run_bake(ws, bench.proxy, f"waves{rep}")["wall_s"], 1
                else:
                    seconds, calls = run_waves(ws, per_target=mode == "per-target")
                print(f"rep {rep} {mode:10} {seconds:6.1f} s  {calls:2} bake processes", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
