"""Peak memory of the retry proxy while a 2 GiB layer and three of 64 MiB are pushed through it at once.

`bench.bigpush` measures a whole `stackbuild build`, whose first pushes talk to the registry
straight; a build repeated after a registry fault pushes through engine/registry/retryproxy.py
instead. This measures that path: four chunked blob uploads at once (as BuildKit sends them) through
the proxy to a throwaway registry, in a fresh process whose peak resident set (VmHWM) holds the
proxy, the four senders and Python itself.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import env
from bench.bigpush import RSS_TARGET_MB

BLOCK = 1 << 20
SIZES = {"big": 2 << 30, "small-1": 64 << 20, "small-2": 64 << 20, "small-3": 64 << 20}


def _blob(path: Path, size: int) -> str:
    """size random bytes at path; their digest."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for offset in range(0, size, BLOCK):
            block = os.urandom(min(BLOCK, size - offset))
            digest.update(block)
            out.write(block)
    return "sha256:" + digest.hexdigest()


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while block := source.read(BLOCK):
            yield block


def _push(port: int, repository: str, path: Path, digest: str) -> None:
    """POST an upload session, then PUT the whole blob chunked, through the proxy on port."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("POST", f"/v2/{repository}/blobs/uploads/", headers={"Content-Length": "0"})
    answer = connection.getresponse()
    answer.read()
    location = answer.getheader("Location") or ""
    if answer.status != 202 or not location:
        raise RuntimeError(f"POST {repository}: HTTP {answer.status}")
    target = location.split(f":{port}", 1)[-1]
    connection.request("PUT", f"{target}{'&' if '?' in target else '?'}digest={digest}", body=_chunks(path),
                       headers={"Content-Type": "application/octet-stream"}, encode_chunked=True)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    if answer.status != 201:
        raise RuntimeError(f"PUT {repository}: HTTP {answer.status}")


def inner(work: Path) -> dict[str, Any]:
    """In this process: blobs, registry, proxy, four pushes at once; the peak RSS after them."""
    from engine.registry.retryproxy import RetryProxy

    blobs = {name: (work / name, _blob(work / name, size)) for name, size in SIZES.items()}
    baseline = env.peak_rss_mb()
    registry = env.ThrowawayRegistry(work / "registry").start()
    try:
        with RetryProxy(f"127.0.0.1:{registry.port}") as proxy, ThreadPoolExecutor(len(blobs)) as pool:
            port = int(proxy.host.rsplit(":", 1)[1])
            list(pool.map(lambda item: _push(port, f"proxymem/{item[0]}", *item[1]), blobs.items()))
            requests = proxy.counts["requests"]
    finally:
        registry.stop()
    return {"peak_rss_mb": round(env.peak_rss_mb(), 1), "before_pushing_mb": round(baseline, 1),
            "bytes": sum(SIZES.values()), "requests": requests}


def measure(work: Path) -> dict[str, Any]:
    """inner() in a fresh process (its own VmHWM), its blobs and registry in work (made if missing)."""
    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "bench.proxymem", "--inner", str(work)], capture_output=True,
                          text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"proxymem failed ({done.returncode}): {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout))


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue-11 memory target, on the retry proxy's path."""
    return [{
        "target": "peak RSS while pushing a 2 GB layer with --jobs 4 through the retry proxy < 300 MB "
                  "(issue 11)",
        "measured": f"{result['peak_rss_mb']} MB peak RSS (2 GiB and three 64 MiB blobs pushed at once, "
                    f"chunked, through engine/registry/retryproxy.py; peak {result['before_pushing_mb']} MB "
                    "before pushing)",
        "met": result["peak_rss_mb"] < RSS_TARGET_MB,
    }]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inner"]:
        print(json.dumps(inner(Path(sys.argv[2]))))
    else:
        with tempfile.TemporaryDirectory(prefix="stackbuild-proxymem-") as folder:
            outcome = measure(Path(folder))
            print(json.dumps({"result": outcome, "targets": targets(outcome)}, indent=2))
