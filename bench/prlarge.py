"""PR mode on a large repository: `stackbuild plan --offline --changed-since HEAD~1` in a throwaway
git repository with many tracked files outside the stacks, or large tracked files under them.

The repository holds one small stack (two nodes: one Dockerfile beside the stack file, one in
docker/ outside stacks/) and, depending on the workload, `--files` tiny files in src/ (200 to a
folder) or `--big-mb` MiB of zeros in each of two files under the stack's folder. HEAD changes one
Dockerfile. Each run is a fresh process: wall seconds and the peak resident set of the largest process
of the run (the CLI or a git it started, as wait4 reports it); then PR mode once in this process: how
many files, folders and links the old tree holds when the old stacks load, and the Python heap's
peak. Printed as JSON lines.

    python -m bench.prlarge --files 200000
    python -m bench.prlarge --big-mb 512
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

STACK = """\
stack: big
registry: localhost:5000/bench
platforms: [linux/amd64]
nodes:
  base:
    kind: os
    tag: "1"
  app:
    kind: framework
    parent: base
    dockerfile: ../../docker/app/Dockerfile
    context: ../../docker/app
    tag: "1"
"""


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args],
                          input=stdin, capture_output=True, check=True)
    return done.stdout


def make_repo(repo: Path, files: int, big_mb: int) -> None:
    """The throwaway repository: the stack, then the many (or big) files, then a commit changing one file."""
    (repo / "stacks" / "big" / "base").mkdir(parents=True)
    (repo / "docker" / "app").mkdir(parents=True)
    (repo / "stacks" / "big" / "stack.yaml").write_text(STACK, encoding="utf-8")
    (repo / "stacks" / "big" / "base" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (repo / "docker" / "app" / "Dockerfile").write_text("FROM base\n", encoding="utf-8")
    for index in range(2 if big_mb else 0):
        with (repo / "stacks" / "big" / "base" / f"blob-{index}.bin").open("wb") as out:
            out.truncate(big_mb << 20)
    _git(repo, "init", "-q", "--template=")
    _git(repo, "add", "-A")
    if files:
        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=b"x\n").decode().strip()
        lines = "".join(f"100644 {blob}\tsrc/d{i // 200:04d}/f{i % 200:03d}.txt\n" for i in range(files))
        _git(repo, "update-index", "--index-info", stdin=lines.encode())
        _git(repo, "checkout-index", "-a", "-q")
    _git(repo, "commit", "-q", "-m", "one")
    (repo / "docker" / "app" / "Dockerfile").write_text("FROM base\nENV CHANGE=1\n", encoding="utf-8")
    _git(repo, "commit", "-q", "-am", "two")


def run_plan(repo: Path, state: Path) -> dict[str, Any]:
    """One `stackbuild plan --offline --changed-since HEAD~1` in a fresh process: wall seconds, peak RSS."""
    argv = [sys.executable, "-m", "engine.cli", "plan", "--root", str(repo), "--state-dir", str(state),
            "--offline", "--changed-since", "HEAD~1", "stacks"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # the peak RSS of the largest process of the run
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"plan failed ({process.returncode}): {err.read().decode()[-2000:]}")
        plan = out.read().decode()
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "plan": plan.strip().splitlines()[-3:]}


def old_tree(repo: Path) -> dict[str, Any]:
    """PR mode's old tree in this process: files, folders and links in it when the old stacks load,
    and the Python heap's peak (tracemalloc) while PR mode runs."""
    from engine.run import api, prchanges
    from graph.expand.assemble import load_graph

    entries: list[int] = []

    def counting(root: Path, targets: Any, *rest: Any) -> Any:
        entries.append(sum(len(dirs) + len(files) for _, dirs, files in os.walk(root)))
        return load_graph(root, targets, *rest)

    vars(prchanges)["load_graph"] = counting  # as PR mode calls it
    targets = (Path("stacks"),)
    graph = api.load(api.Options(root=repo, targets=targets))
    tracemalloc.start()
    touched = prchanges.pr_changes(graph, repo, "HEAD~1", targets)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"old_tree_entries": entries, "heap_peak_mb": round(peak / (1 << 20), 1), "touched": touched}


def main() -> None:
    """Build the repository once, run the plan --reps times, print one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=0)
    parser.add_argument("--big-mb", type=int, default=0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-prlarge-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        make_repo(work / "repo", args.files, args.big_mb)
        print(json.dumps({"made_repo_s": round(time.perf_counter() - started, 1)}), flush=True)
        for _ in range(args.reps):
            print(json.dumps(run_plan(work / "repo", work / "state")), flush=True)
        print(json.dumps(old_tree(work / "repo")), flush=True)


if __name__ == "__main__":
    main()
