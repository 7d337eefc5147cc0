"""A no-op `stackbuild build` of the generated 10k-node stacks against a registry filled by manifest PUTs.

Building 10 000 images is not needed to measure what a no-op costs: every node's content tag and
human tag are made to exist by PUTting a small two-platform index (zero-layer images over one config
blob per repository). The first run finds everything present and records it in the history; the
second run, the measured one, is the nightly no-op: wall time and manifest requests per node, counted
from the throwaway registry's own access log (bench/accesslog.py): no counting proxy in the path, whose
Python forwarding would compete with the measured run for the two cores.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import env, synth
from bench.accesslog import AccessLog

TIME_TARGET_S = 15.0
FILL_THREADS = 8
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


def _write_stacks(work: Path, scale: synth.Scale, registry: str) -> tuple[Path, ...]:
    """The generated stacks below work, pushing below registry instead of registry.example."""
    folders = synth.write_scale_stacks(work, scale)
    for folder in folders:
        stack = folder / "stack.yaml"
        stack.write_text(stack.read_text(encoding="utf-8").replace("registry.example:5000", registry),
                         encoding="utf-8")
    return folders


def _refs(work: Path) -> list[tuple[str, str]]:
    """(content ref, human ref) of every node, as the planner derives them."""
    from engine.run.planner import content_ref
    from graph.change.fingerprint import fingerprint_graph
    from graph.expand.assemble import load_graph

    graph = load_graph(work, (Path("stacks"),))
    fingerprints = fingerprint_graph(graph, work, {})
    return [(content_ref(node, fingerprints[name]), node.ref) for name, node in graph.nodes.items()]


class _Pusher:
    """Minimal distribution API client over one keep-alive connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port

    def _call(self, method: str, path: str, body: bytes = b"", kind: str = "") -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": kind} if kind else {}
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        connection.close()
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status}")
        return answer

    def blob(self, repository: str, data: bytes) -> str:
        """Upload data as a blob of repository (monolithic), return its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = self._call("POST", f"/v2/{repository}/blobs/uploads/").getheader("Location") or ""
        path = location.split(f":{self.port}", 1)[-1]
        self._call("PUT", f"{path}{'&' if '?' in path else '?'}digest={digest}", data)
        return digest

    def manifest(self, repository: str, reference: str, document: dict[str, Any]) -> str:
        """PUT a manifest or index under reference; its digest."""
        body = json.dumps(document, separators=(",", ":")).encode()
        self._call("PUT", f"/v2/{repository}/manifests/{reference}", body, document["mediaType"])
        return "sha256:" + hashlib.sha256(body).hexdigest()


def _repository_index(pusher: _Pusher, repository: str) -> dict[str, Any]:
    """A two-platform index of zero-layer images in repository (its manifests pushed by digest)."""
    entries = []
    for arch in ("amd64", "arm64"):
        config = json.dumps({"architecture": arch, "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "layers": [],
                    "config": {"mediaType": CONFIG_TYPE, "digest": pusher.blob(repository, config),
                               "size": len(config)}}
        digest = pusher.manifest(repository, _digest_of(manifest), manifest)
        entries.append({"mediaType": MANIFEST_TYPE, "digest": digest, "size": len(_body(manifest)),
                        "platform": {"architecture": arch, "os": "linux"}})
    return {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries}


def _body(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _digest_of(document: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_body(document)).hexdigest()


def fill(port: int, refs: list[tuple[str, str]]) -> int:
    """PUT every content and human tag; how many manifest PUTs that took."""
    pusher = _Pusher(port)
    repositories = sorted({content.split("/", 1)[1].rsplit(":", 1)[0] for content, _ in refs})
    with ThreadPoolExecutor(FILL_THREADS) as pool:
        indexes = dict(zip(repositories, pool.map(lambda r: _repository_index(pusher, r), repositories),
                           strict=True))

        def put(ref: str) -> None:
            repository, tag = ref.split("/", 1)[1].rsplit(":", 1)
            pusher.manifest(repository, tag, indexes[repository])

        tags = [ref for pair in refs for ref in pair]
        list(pool.map(put, tags))
    return len(tags) + 2 * len(repositories)


def _no_op(work: Path, state: Path) -> tuple[float, str]:
    """One `stackbuild build` of the stacks: wall seconds and its output's last lines."""
    env.settle()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "build", "--root", str(work), "--state-dir", str(state),
         "--jobs", "4", "--no-test", "--log-format", "json", "--max-nodes", "200000", "stacks"],
        capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"no-op build failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout[-400:]


def measure(work: Path, scale_name: str = "10k", progress: Any = print) -> dict[str, Any]:
    """Fill a throwaway registry for the scale's stacks, run two no-op builds, measure the second."""
    scale = synth.SCALES[scale_name]
    registry = env.ThrowawayRegistry(work / "registry", access_log=True).start()
    try:
        requests = AccessLog(registry.folder / "access.log")
        stacks = work / "stacks-root"
        _write_stacks(stacks, scale, f"localhost:{registry.port}")
        refs = _refs(stacks)
        started = time.perf_counter()
        puts = fill(registry.port, refs)
        progress(f"noop-scale: {len(refs)} nodes, {puts} manifest PUTs in "
                 f"{time.perf_counter() - started:.1f} s")
        requests.take()
        first, _ = _no_op(stacks, work / "state")
        first_counts = requests.take()
        load = [round(value, 2) for value in os.getloadavg()]
        second, _ = _no_op(stacks, work / "state")
        counts = requests.take()
    finally:
        registry.stop()
    manifests = sum(count for key, count in counts.items() if key.endswith(" manifests"))
    return {"nodes": len(refs), "first_run_s": round(first, 2), "noop_s": round(second, 2),
            "manifest_requests": manifests, "per_node": round(manifests / len(refs), 3),
            "load_average": load, "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "requests": counts, "first_run_requests": first_counts}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue-11 target judged on a measurement."""
    return [{
        "target": "no-op build of the generated 10k-node stack < 15 s, <= 1 manifest request per node "
                  "(issue 11)",
        "measured": f"{result['noop_s']} s, {result['per_node']} manifest requests per node "
                    f"({result['nodes']} nodes; first run, without history: {result['first_run_s']} s; "
                    f"{result['date'][:10]}, load average {result['load_average'][0]} "
                    f"on {os.cpu_count()} cores)",
        "met": result["noop_s"] < TIME_TARGET_S and result["per_node"] <= 1.0,
    }]


if __name__ == "__main__":
    import tempfile

    env.compile_bytecode(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="stackbuild-noop-") as folder:
        outcome = measure(Path(folder), sys.argv[1] if len(sys.argv) > 1 else "10k")
        print(json.dumps({"result": outcome, "targets": targets(outcome)}, indent=2))
