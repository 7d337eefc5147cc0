"""Peak memory of stackbuild while it pushes a 2 GiB layer with `--jobs 4` (issue 11).

Four root nodes built at once (`FROM scratch` + `COPY` of one file of random bytes, so compression
cannot shrink it): one 2 GiB layer and three of 64 MiB, amd64 only, pushed to a throwaway loopback
registry. The peak resident set (VmHWM of /proc/PID/status) of the stackbuild process is sampled
until it exits. A first push goes to the registry straight; a build repeated after a registry fault
pushes through the retrying proxy inside the stackbuild process, measured by bench/proxymem.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import env

RSS_TARGET_MB = 300.0
BIG_BYTES, SMALL_BYTES = 2 << 30, 64 << 20
STACK = """\
stack: bigpush
registry: {registry}/bigpush
platforms: [linux/amd64]
nodes:
{nodes}"""
NODE = """  {name}:
    kind: os
    dockerfile: {name}/Dockerfile
    image: {name}
    tag: "1"
"""


def _random_file(path: Path, size: int) -> None:
    """size random bytes at path, written in 16 MiB blocks."""
    block = 16 << 20
    with path.open("wb") as out:
        for offset in range(0, size, block):
            out.write(os.urandom(min(block, size - offset)))


def write_stack(root: Path, registry: str) -> Path:
    """The four-node stack below root/stacks/bigpush."""
    stack = root / "stacks" / "bigpush"
    sizes = {"big": BIG_BYTES, "small-1": SMALL_BYTES, "small-2": SMALL_BYTES, "small-3": SMALL_BYTES}
    for name, size in sizes.items():
        folder = stack / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Dockerfile").write_text("FROM scratch\nCOPY blob /blob\n", encoding="utf-8")
        _random_file(folder / "blob", size)
    nodes = "".join(NODE.format(name=name) for name in sizes)
    (stack / "stack.yaml").write_text(STACK.format(registry=registry, nodes=nodes), encoding="utf-8")
    return stack


def measure(work: Path) -> dict[str, Any]:
    """Build and push the stack once; stackbuild's peak RSS, wall time and the pushed size."""
    registry = env.ThrowawayRegistry(work / "registry").start()
    try:
        write_stack(work, f"localhost:{registry.port}")
        argv = [sys.executable, "-m", "engine.cli", "build", "--root", str(work), "--state-dir",
                str(work / "state"), "--jobs", "4", "--no-test", "--cache", "none", "--log-format", "json",
                "stacks/bigpush"]
        start = time.perf_counter()
        with (work / "build.log").open("wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            peak = 0.0
            while process.poll() is None:
                peak = max(peak, env.peak_rss_mb(process.pid))
                time.sleep(0.2)
        seconds = time.perf_counter() - start
        if process.returncode != 0:
            tail = (work / "build.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"bigpush build failed ({process.returncode}): {tail}")
    finally:
        registry.stop()
        env.remove_images(f"localhost:{registry.port}/bigpush", work / "rmi.log")
    return {"peak_rss_mb": round(peak, 1), "seconds": round(seconds, 1), "layer_bytes": BIG_BYTES,
            "jobs": 4}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue-11 memory target judged on a measurement."""
    return [{
        "target": "peak RSS while pushing a 2 GB layer with --jobs 4 < 300 MB (issue 11)",
        "measured": f"{result['peak_rss_mb']} MB peak RSS of the stackbuild process "
                    f"(2 GiB layer and three of "
                    f"64 MiB pushed at once, {result['seconds']} s)",
        "met": result["peak_rss_mb"] < RSS_TARGET_MB,
    }]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="stackbuild-bigpush-") as folder:
        outcome = measure(Path(folder))
        print(json.dumps({"result": outcome, "targets": targets(outcome)}, indent=2))
