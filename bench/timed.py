"""One timed run of each tool: `stackbuild build` through its CLI, `docker buildx bake --push`.

Each run waits for a quiet machine, then is timed from start to exit, with the registry requests
the counting proxy saw during it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import bakefile, env
from bench.proxy import CountingProxy
from bench.workspace import HOST_SECRETS, Workspace, clean_env, stackbuild_command

RUN_TIMEOUT_S = 1800


def _requests(counts: dict[str, int]) -> dict[str, Any]:
    """Counts by method and kind, and sums per kind."""
    by_kind: dict[str, int] = {}
    for key, value in counts.items():
        kind = key.split(" ", 1)[1]
        by_kind[kind] = by_kind.get(kind, 0) + value
    probes, retries = by_kind.pop("tls-probe", 0), by_kind.pop("read-retry", 0)
    return {"total": sum(by_kind.values()), **{f"{kind}": by_kind[kind] for kind in sorted(by_kind)},
            "tls_probes": probes, "read_retries": retries,
            "by_method": dict(sorted(counts.items()))}


def run_stackbuild(ws: Workspace, proxy: CountingProxy, jobs: int, name: str,
                   full: bool = False, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One `stackbuild build` through the CLI (extra: more flags); wall time, buildx solves, requests."""
    argv = [*stackbuild_command(), "build", ws.target, "--root", str(ws.root), "--registry", ws.sb_prefix,
            "--state-dir", str(ws.state), "--jobs", str(jobs), "--keep-going", "--no-test",
            "--log-format", "json", *(["--full"] if full else []), *HOST_SECRETS, *extra]
    settled = env.settle()
    proxy.take()
    log = ws.logs / f"{name}-stackbuild.log"
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        result = subprocess.run(argv, cwd=ws.root, stdout=subprocess.PIPE, stderr=out, text=True,
                                env=clean_env(), timeout=RUN_TIMEOUT_S, check=False)
    wall = time.monotonic() - start
    counts = proxy.take()
    report_line = next((line for line in result.stdout.splitlines() if line.startswith("report: ")), "")
    report: dict[str, Any] = {}
    if report_line:
        report = json.loads(Path(report_line.removeprefix("report: ")).read_text(encoding="utf-8"))
    ok = result.returncode == 0 and report.get("status") == "succeeded"
    return {"wall_s": round(wall, 3), "solves": int(report.get("buildx_invocations", 0)), "ok": ok,
            "requests": _requests(counts), "log": str(log), "settled_s": settled,
            "error": "" if ok else (result.stdout[-1500:] or f"exit {result.returncode}; see {log}"),
            "durations": {node: entry["duration_s"] for node, entry in report.get("nodes", {}).items()
                          if entry.get("action") == "build"}}


def run_bake(ws: Workspace, proxy: CountingProxy, name: str, no_cache: bool = False,
             bake_file: Path | None = None) -> dict[str, Any]:
    """One `docker buildx bake --push` of the exported file (or bake_file); solves are the targets in
    its metadata."""
    metadata = ws.logs / f"{name}-bake.metadata.json"
    metadata.unlink(missing_ok=True)
    argv = ["docker", "buildx", "bake", "-f", str(bake_file or ws.bake_file), "--push", "--progress", "plain",
            "--metadata-file", str(metadata), *(["--no-cache", "--pull"] if no_cache else [])]
    settled = env.settle()
    proxy.take()
    log = ws.logs / f"{name}-bake.log"
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        result = subprocess.run(argv, cwd=ws.root, stdout=out, stderr=subprocess.STDOUT, env=clean_env(),
                                timeout=RUN_TIMEOUT_S, check=False)
    wall = time.monotonic() - start
    counts = proxy.take()
    digests = bakefile.bake_digests(metadata)
    ok = result.returncode == 0
    return {"wall_s": round(wall, 3), "solves": len(digests), "digests": digests, "ok": ok,
            "requests": _requests(counts),
            "log": str(log), "settled_s": settled, "error": "" if ok else _tail(log)}


def profile_stackbuild(ws: Workspace, proxy: CountingProxy, jobs: int) -> dict[str, Any]:
    """A no-op `stackbuild build` under cProfile (not timed): where its fixed costs go."""
    import pstats

    from bench.planner import hot_spots

    output = ws.logs / "noop.prof"
    argv = [sys.executable, "-m", "cProfile", "-o", str(output), "-m", "engine.cli", "build", ws.target,
            "--root", str(ws.root), "--registry", ws.sb_prefix, "--state-dir", str(ws.state), "--jobs",
            str(jobs), "--keep-going", "--no-test", "--log-format", "json"]
    subprocess.run(argv, cwd=ws.root, capture_output=True, env=clean_env(), timeout=RUN_TIMEOUT_S,
                   check=False)
    proxy.take()
    if not output.exists():
        return {}
    stats = pstats.Stats(str(output))
    spots = hot_spots(stats, limit=14, prefixes=("engine/", "graph/"))
    return {"total_s": round(float(getattr(stats, "total_tt", 0.0)), 3),
            "engine_graph_cumulative": spots["graph_cumulative"], "own_time": spots["own_time"][:8]}


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
