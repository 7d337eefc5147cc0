"""The benchmark suite itself: `--quick` (tiny sizes, no Docker) writes well-formed results.

Nothing here asserts on a duration: only on shapes, counts and exact (simulated) values.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from bench import judge, run, sched, synth
from bench.planner import PHASES
from bench.proxy import CountingProxy, path_kind
from graph.expand.assemble import load_graph
from tests.loopback import QuietHandler, serving


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    assert run.main(["--quick", "--out-dir", str(out)]) == 0
    return json.loads((out / "results.json").read_text(encoding="utf-8")), (out / "results.md").read_text(
        encoding="utf-8")


def test_a_part_that_fails_is_reported_and_the_others_are_still_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> dict[str, Any]:
        raise FileNotFoundError("no such file: big")

    monkeypatch.setattr(run, "_planner", broken)
    assert run.main(["--quick", "--out-dir", str(tmp_path)]) == 1
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["planner"] == {"skipped": "failed: FileNotFoundError: no such file: big", "failed": True}
    assert results["scheduler"]["graphs"]  # the parts after it ran
    assert "Not run: failed: FileNotFoundError: no such file: big." in (tmp_path / "results.md").read_text(
        encoding="utf-8")


def test_quick_mode_labels_its_results_with_date_and_machine(quick: tuple[dict[str, Any], str]) -> None:
    results, _ = quick
    meta = results["meta"]
    assert meta["mode"] == "quick"
    assert meta["command"].startswith("python -m bench.run --quick")
    machine = meta["machine"]
    assert machine["date"][:2] == "20" and "T" in machine["date"]
    assert machine["nproc"] >= 1 and machine["cpu_model"] and machine["memory_gb"] > 0
    assert len(machine["load_average"]) == 3 and len(meta["load_average_end"]) == 3
    assert "docker" not in machine  # quick mode never touches Docker
    assert meta["duration_s"] >= 0


def test_quick_mode_skips_the_engine_and_measures_a_tiny_planner(quick: tuple[dict[str, Any], str]) -> None:
    results, _ = quick
    assert results["engine"] == {"skipped": "quick mode (no Docker)"}
    [size] = results["planner"]["sizes"]
    assert size["scale"] == "tiny" and size["nodes"] == synth.SCALES["tiny"].nodes
    assert set(size["phases"]) == set(PHASES)
    for stats in [*size["phases"].values(), size["total_s"]]:
        assert 0 <= stats["min"] <= stats["median"]
    assert size["peak_rss_mb"] > 0 and size["tracemalloc_peak_mb"] > 0
    # no engine runs and no 10k planner workload; the scheduler's overhead is judged at 10k nodes
    assert [row["target"] for row in results["targets"]] == [
        "scheduler overhead, instant work: <1 s at 10000 nodes"]
    assert [entry["nodes"] for entry in results["scheduler"]["overhead"]] == [1_000, 10_000]


def test_quick_mode_simulates_the_scheduler_against_the_bound(quick: tuple[dict[str, Any], str]) -> None:
    results, _ = quick
    graphs = results["scheduler"]["graphs"]
    assert [graph["graph"] for graph in graphs] == ["demo", "generated 29-node stack",
                                                      "generated planner-scale stack"]
    for graph in graphs:
        assert [row["jobs"] for row in graph["rows"]] == [1, 2]
        for row in graph["rows"]:
            for policy in sched.POLICIES:
                # no list schedule beats the bound; with one job every policy does all the work
                assert row[policy]["exact"] >= row["lower_bound"] - 0.01
                assert row[policy]["median"] > 0
            if row["jobs"] == 1:
                assert row["ours"]["exact"] == pytest.approx(graph["total_work"], abs=0.02)


def test_quick_mode_writes_the_markdown_report(quick: tuple[dict[str, Any], str]) -> None:
    _, text = quick
    for heading in ("# Benchmarks", "## Targets", "## stackbuild beside docker buildx bake",
                    "## Planner at scale", "## Scheduler quality"):
        assert heading in text
    assert "Not run: quick mode (no Docker)." in text
    assert "| tiny | 74 | 1 |" in text


# --- the parts ------------------------------------------------------------------------------------


def test_generated_stacks_expand_to_the_sizes_they_promise(tmp_path: Path) -> None:
    synth.write_build_stack(tmp_path)
    assert len(load_graph(tmp_path, [Path("stacks/synth")]).nodes) == synth.build_stack_size() == 29
    scale = synth.Scale(stacks=2, oses=2, accels=("cpu", "rocm"), sdk_versions=1, frameworks=2, apps=3)
    synth.write_scale_stacks(tmp_path, scale)
    graph = load_graph(tmp_path, [Path("stacks")])
    assert len(graph.nodes) == scale.nodes + 29
    assert synth.SCALES["1k"].nodes == 1047 and synth.SCALES["10k"].nodes == 10470


def test_exact_simulation_of_the_orderings_on_a_graph_where_priority_matters() -> None:
    # a → b → c is the long chain; x, y are short and sort first by name in the plain order
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    graph.add_nodes_from(["x", "y"])
    durations = {"a": 1.0, "b": 5.0, "c": 5.0, "x": 4.0, "y": 4.0}
    order = ["x", "y", "a", "b", "c"]
    assert sched.lower_bound(graph, durations, 2) == 11.0
    assert sched.exact_makespan(graph, durations, order, 2, "ours") == 11.0
    assert sched.exact_makespan(graph, durations, order, 2, "fifo") == 15.0
    assert sched.exact_makespan(graph, durations, order, 1, "fifo") == 19.0


def test_long_tail_durations_are_reproducible() -> None:
    kinds = {f"n{i}": "framework" for i in range(50)}
    dev = dict.fromkeys(kinds, False)
    first = sched.long_tail_durations(kinds, dev)
    assert set(first) == set(kinds)  # a duration for every node
    assert sched.long_tail_durations(kinds, dev) == first
    assert all(value > 0 for value in first.values())
    assert len(set(first.values())) == len(first)  # drawn, not one constant
    assert sched.long_tail_durations(kinds, dev, seed=8) != first  # the seed decides them


@pytest.mark.parametrize(("path", "kind"), [
    ("/v2/", "base"), ("/v2/a/b/manifests/1.0", "manifests"), ("/v2/a/manifests/sha256:ab", "manifests"),
    ("/v2/a/b/blobs/sha256:ab", "blobs"), ("/v2/a/blobs/uploads/", "uploads"),
    ("/v2/a/blobs/uploads/uuid?digest=sha256:ab", "uploads"), ("/v2/a/tags/list", "tags"), ("/x", "other"),
])
def test_the_proxy_tells_registry_endpoints_apart(path: str, kind: str) -> None:
    assert path_kind(path) == kind


class _Upstream(QuietHandler):
    protocol_version = "HTTP/1.1"

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Docker-Content-Digest", "sha256:00")
        self.send_header("Content-Length", "42")
        self.end_headers()

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while (size := int(self.rfile.readline().strip(), 16)) != 0:
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        answer = f"{len(body)} {self.headers['Host']}".encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def test_the_proxy_forwards_and_counts_by_method_and_kind() -> None:
    with serving(_Upstream) as upstream, CountingProxy("127.0.0.1", upstream.port) as proxy:
        client = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        client.request("HEAD", "/v2/r/manifests/1")
        head = client.getresponse()
        head.read()
        assert (head.status, head.getheader("Docker-Content-Digest")) == (200, "sha256:00")
        client.request("PUT", "/v2/r/blobs/uploads/u?digest=sha256:00", body=b"x" * 3000)
        assert client.getresponse().read() == f"3000 127.0.0.1:{proxy.port}".encode()
        client.request("PUT", "/v2/r/blobs/uploads/u", body=iter([b"ab", b"cde"]),
                       encode_chunked=True)
        assert client.getresponse().read().startswith(b"5 ")
        client.close()
        assert proxy.take() == {"HEAD manifests": 1, "PUT uploads": 2}
        assert proxy.take() == {}


def test_targets_are_judged_from_the_medians() -> None:
    def scenario(name: str, sb: float, bake: float, manifests: float) -> dict[str, Any]:
        return {"stack": "demo", "nodes": 10, "scenario": name, "reps": 3, "ratio": round(sb / bake, 3),
                "speedup": round(bake / sb, 2), "manifest_requests_per_node": manifests / 10,
                "stackbuild": {"requests": {"manifests": manifests}}, "bake": {"requests": {"manifests": 40}}}

    results = {"engine": {"scenarios": [scenario("cold", 90, 100, 50), scenario("noop", 1, 20, 10),
                                        scenario("pr", 10, 20, 30), scenario("nightly", 120, 100, 60)]},
               "planner": {"sizes": [{"scale": "10k", "nodes": 10470, "total_s": {"median": 2.5},
                                      "peak_rss_mb": 80.0}]}}
    met = {row["target"]: row["met"] for row in judge.targets(results)}
    assert met == {
        "demo: no-op ≥10× faster than bake": True,
        "demo: no-op ≤1 registry manifest request per node": True,
        "demo: PR change ≥3× faster than bake": False,
        "demo: cold no slower than bake": True,
        "demo: nightly no slower than bake": False,
        "planner: 10470 nodes in <2 s": False,
        "planner: 10470 nodes in <500 MB": True,
    }


class _KeepAliveUpstream(QuietHandler):
    """HTTP/1.1; answers HEAD with the client port it came from; drops the connection when asked to."""

    protocol_version = "HTTP/1.1"
    drop_after_answer = False

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("X-Port", str(self.client_address[1]))
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = self.drop_after_answer  # without saying so (an idle timeout)


@pytest.mark.parametrize("drop", [False, True])
def test_the_proxy_keeps_its_upstream_connection_and_reopens_one_the_registry_dropped(drop: bool) -> None:
    handler = type("Upstream", (_KeepAliveUpstream,), {"drop_after_answer": drop})
    with serving(handler) as upstream, CountingProxy("127.0.0.1", upstream.port) as proxy:
        client = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        ports = []
        for number in range(4):
            client.request("HEAD", f"/v2/r/manifests/{number}")
            answer = client.getresponse()
            answer.read()
            assert answer.status == 200
            ports.append(answer.getheader("X-Port"))
        client.close()
        assert len(set(ports)) == (4 if drop else 1)
        assert proxy.take() == {"HEAD manifests": 4}



def test_settling_waits_while_the_machine_is_busy_and_gives_up_at_its_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import env

    monkeypatch.setattr(env, "SETTLE_BUSY", 0.0)  # no window is quiet enough
    assert 0.5 <= env.settle(window_s=0.1, limit_s=0.5) < 1.0
    monkeypatch.setattr(env, "SETTLE_BUSY", 1.01)  # every window is
    assert env.settle(window_s=0.1, limit_s=5.0) < 0.5  # two windows in a row
