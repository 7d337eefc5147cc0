"""Per-platform builds over a builder pool through api.build, with fakes: no Docker, no network."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
import tenacity

from engine.build.builder import BuildResult, PushGate
from engine.build.pool import Pool, PoolError, parse_pool
from engine.build.request import BuildRequest
from engine.errors import BuildError
from engine.run import api, faults, outcomes
from engine.run.settings import BuildSettings
from engine.state.report import NodeReport, RunReport
from tests.engine.engine_fakes import (
    NODES,
    OCI_INDEX,
    PARENTS,
    PLATFORMS,
    REGISTRY,
    FakeBuilder,
    FakeRegistry,
    canonical,
    digest_of,
    human_ref,
    is_content_ref,
    repository_of,
    sha,
)
from tests.engine.run import builds

POOL = parse_pool({"linux/amd64": ["amd"], "linux/arm64": ["arm-1", "arm-2"]}, "test")


class FakePoolBuilder(FakeBuilder):
    """Builds one platform per call and pushes it by digest (no tag); merges by digest; can lose a builder."""

    def __init__(self, registry: FakeRegistry, dead: Sequence[str] = (), broken: Sequence[str] = ()) -> None:
        super().__init__(registry)
        self.dead, self.broken = set(dead), set(broken)  # builders that are gone; node@platform that fail
        self.units: list[tuple[str, str, str]] = []  # (node, platform, builder) of every build call
        self.merges: Counter[str] = Counter()
        self.pool_lock = threading.Lock()

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        (platform,) = request.platforms
        assert not request.tags and request.output.endswith(",push=true")
        with self.pool_lock:
            self.units.append((request.node, platform, request.builder))
            self.requests[request.node] = request
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(f"#1 [{platform} 1/1] FROM scratch\n#1 DONE 1.0s\n", encoding="utf-8")
        if request.builder in self.dead or f"{request.node}@{platform}" in self.broken:
            raise BuildError(request.node, ["docker", "buildx", "build"], 1, "failed", str(log_path))
        staging = request.output.split("name=", 1)[1].split(",", 1)[0]
        assert staging.endswith(f"-{platform.replace('/', '-')}")
        layers = {**self._parent_layers(request)}.get(platform, [])
        with self.pool_lock:
            self.pushes[f"{request.node}@{platform}"] += 1
            content = f"{request.node} {platform} #{self.pushes[f'{request.node}@{platform}']}"
        digest = self.registry.push_image(staging, {platform: [*layers, sha(content)]})
        return BuildResult(request.node, digest, 1.0, str(log_path))

    def merge(self, node: str, target: str, sources: Sequence[str]) -> None:
        manifests = []
        for source in sources:
            body = self.registry.manifest_body(source)
            assert body is not None, source
            manifests += json.loads(body)["manifests"]
        index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
        with self.registry.lock:
            self.merges[target] += 1
            digest = self.registry._store(repository_of(target), OCI_INDEX, index)
            assert digest == digest_of(index)
            self.registry.refs[target] = digest
            self.registry.events.append(("push", target))

    def alive(self, builder: str) -> bool:
        return builder not in self.dead


def run_build(root: Path, builder: FakeBuilder, registry: FakeRegistry,
              pool: Pool | None = POOL) -> RunReport:
    return builds.run_build(root, builder, registry, pool=pool)


def test_each_platform_is_built_on_its_builders_and_each_tag_is_an_index_of_exactly_the_platforms(
        root: Path) -> None:
    registry = FakeRegistry()
    builder = FakePoolBuilder(registry)
    report = run_build(root, builder, registry)
    assert report.status == "succeeded"
    assert sorted((n, p) for n, p, _ in builder.units) == sorted((n, p) for n in NODES for p in PLATFORMS)
    assert {b for _, p, b in builder.units if p == "linux/amd64"} == {"amd"}
    assert {b for _, p, b in builder.units if p == "linux/arm64"} == {"arm-1", "arm-2"}  # spread
    for name in NODES:
        assert set(registry.platforms(human_ref(name))) == set(PLATFORMS)
        assert report.nodes[name].status == "succeeded"
        assert set(report.nodes[name].platform_digests) == set(PLATFORMS)
    assert sum(builder.merges.values()) == len(NODES)  # one index per node, none twice
    assert all(count == 1 for count in builder.merges.values())


def test_a_childs_platform_image_starts_with_its_parents_layers_of_that_platform(root: Path) -> None:
    registry = FakeRegistry()
    run_build(root, FakePoolBuilder(registry), registry)
    for name, parent in PARENTS.items():
        if parent is None:
            continue
        for platform in PLATFORMS:
            parent_layers = registry.layers(human_ref(parent), platform)
            assert registry.layers(human_ref(name), platform)[:len(parent_layers)] == parent_layers


def test_a_lost_builder_moves_its_builds_and_the_run_still_publishes_once(root: Path) -> None:
    registry = FakeRegistry()
    builder = FakePoolBuilder(registry, dead={"arm-1"})
    report = run_build(root, builder, registry)
    assert report.status == "succeeded"
    assert sum(1 for _, _, b in builder.units if b == "arm-1") == 1  # lost on its first build
    assert all(count == 1 for count in builder.merges.values())
    tagged = Counter(ref for kind, ref in registry.events if kind == "tag")
    assert tagged and all(count == 1 for count in tagged.values())
    again = FakePoolBuilder(registry)
    rerun = run_build(root, again, registry)
    assert rerun.status == "succeeded" and again.units == [] and not again.merges


def test_a_failed_platform_publishes_nothing_and_names_the_platform(root: Path) -> None:
    registry = FakeRegistry()
    builder = FakePoolBuilder(registry, broken={"mid@linux/arm64"})
    report = run_build(root, builder, registry)
    assert report.status == "failed"
    assert report.nodes["mid"].status == "failed"
    assert report.nodes["leaf"].status in ("skipped", "not_started")
    # no human tag moved
    assert not [ref for kind, ref in registry.events if kind == "tag" and not is_content_ref(ref)]
    assert not [ref for kind, ref in registry.events if kind == "tag" and "/mid:" in ref]  # mid not reusable
    assert not [target for target in builder.merges if "/mid:" in target]  # no index for mid


def test_a_pool_without_a_builder_for_a_planned_platform_is_refused(root: Path) -> None:
    registry = FakeRegistry()
    pool = parse_pool({"linux/amd64": ["amd", "amd-2"]}, "test")
    with pytest.raises(PoolError, match="no builder for linux/arm64"):
        run_build(root, FakePoolBuilder(registry), registry, pool)


def test_a_pool_of_one_builder_builds_whole_nodes_on_it(root: Path) -> None:
    registry = FakeRegistry()
    builder = FakeBuilder(registry)
    pool = parse_pool({"linux/amd64": ["solo"], "linux/arm64": ["solo"]}, "test")
    assert run_build(root, builder, registry, pool).status == "succeeded"
    assert {request.builder for request in builder.requests.values()} == {"solo"}
    assert all(request.platforms == PLATFORMS for request in builder.requests.values())


class ForeignParentPoolBuilder(FakePoolBuilder):
    """Puts `mid` on arm64 over layers of another build of `base` (what BuildKit's cache once did):
    every time, or only while the build may use the cache."""

    def __init__(self, registry: FakeRegistry, cured_without_cache: bool) -> None:
        super().__init__(registry)
        self.cured_without_cache = cured_without_cache
        self.no_cache: list[bool] = []  # of every arm64 build of mid

    def _parent_layers(self, request: BuildRequest) -> dict[str, list[str]]:
        layers = super()._parent_layers(request)
        if request.node == "mid" and request.platforms == ("linux/arm64",):
            self.no_cache.append(request.no_cache)
            if not (request.no_cache and self.cured_without_cache):
                layers["linux/arm64"] = [sha("another build of base")]
        return layers


def test_a_platform_image_on_another_parent_build_is_built_again_without_cache(root: Path) -> None:
    registry = FakeRegistry()
    builder = ForeignParentPoolBuilder(registry, cured_without_cache=True)
    report = run_build(root, builder, registry)
    assert report.status == "succeeded"
    assert builder.no_cache == [False, True]  # only mid's arm64 image again, without cache
    assert (report.nodes["mid"].retries, report.nodes["base"].retries) == (1, 0)
    assert sum(1 for n, p, _ in builder.units if (n, p) == ("mid", "linux/amd64")) == 1
    assert all(count == 1 for count in builder.merges.values())  # merged once, from the good image
    base_layers = registry.layers(human_ref("base"), "linux/arm64")
    assert registry.layers(human_ref("mid"), "linux/arm64")[:len(base_layers)] == base_layers


def test_a_platform_image_that_keeps_resting_on_another_parent_build_fails_the_node(root: Path) -> None:
    registry = FakeRegistry()
    builder = ForeignParentPoolBuilder(registry, cured_without_cache=False)
    report = run_build(root, builder, registry)
    assert report.status == "failed" and builder.no_cache == [False, True]
    assert report.nodes["mid"].status == "failed"
    assert report.nodes["mid"].error.startswith(
        f"node mid on linux/arm64: layer 1 is {sha('another build of base')}, but parent base's is ")
    assert report.nodes["leaf"].status in ("skipped", "not_started")
    # no human tag moved
    assert not [ref for kind, ref in registry.events if kind == "tag" and not is_content_ref(ref)]
    assert not [ref for kind, ref in registry.events if kind == "tag" and "/mid:" in ref]  # mid not reusable
    assert not [target for target in builder.merges if "/mid:" in target]  # no index for mid


PUSH_FAULT = """\
#3 exporting to image
#3 ERROR: failed to push {ref}: failed to do request: Put "http://127.0.0.1:5000/v2/": 503 Service Unavailable
"""


class PushFaultOnEachPlatform(FakePoolBuilder):
    """The first build of each platform of `node` runs into a push fault (a registry fault: built again)."""

    def __init__(self, registry: FakeRegistry, node: str) -> None:
        super().__init__(registry)
        self.node, self.faulted = node, set[str]()

    def build(self, request: BuildRequest, log_path: Path, gate: PushGate | None = None) -> BuildResult:
        (platform,) = request.platforms
        with self.pool_lock:
            first = request.node == self.node and platform not in self.faulted
            self.faulted |= {platform} if first else set()
        if not first:
            return super().build(request, log_path, gate)
        log_path.write_text(PUSH_FAULT.format(ref=request.output), encoding="utf-8")
        raise BuildError(request.node, ["docker", "buildx", "build"], 1, "503", str(log_path))


class SlowRetryCount(NodeReport):
    """A node report whose retry count, read in a build thread, is read slowly: two platform threads that
    count a retry at once both read it before either writes it back, unless they take turns."""

    together = threading.Barrier(2)

    @property  # type: ignore[override]
    def retries(self) -> int:
        value = self._retries
        if threading.current_thread().name.startswith("unit"):
            with contextlib.suppress(threading.BrokenBarrierError):
                self.together.wait(timeout=1)  # taking turns, the first waits alone and breaks it
        return value

    @retries.setter
    def retries(self, value: int) -> None:
        self._retries = value


def test_platforms_retried_at_once_count_every_retry(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "wait_random_exponential", lambda **_: tenacity.wait_none())
    monkeypatch.setattr(outcomes, "NodeReport", SlowRetryCount)
    monkeypatch.setattr(SlowRetryCount, "together", threading.Barrier(2))
    registry = FakeRegistry()
    report = run_build(root, PushFaultOnEachPlatform(registry, "mid"), registry)
    assert report.status == "succeeded"
    assert (report.nodes["mid"].retries, report.fault_repeats) == (len(PLATFORMS), len(PLATFORMS))


def test_a_node_waits_for_the_merged_image_of_its_sbom_generator_built_in_the_run(tmp_path: Path) -> None:
    registry = FakeRegistry()
    builder = FakePoolBuilder(registry)
    report = api.build(builds.scanned_options(tmp_path), builder, BuildSettings(pool=POOL, test=False),
                       registry)
    assert report.status == "succeeded", {n.node: n.error for n in report.nodes.values() if n.error}
    side = report.nodes["side"].digest
    assert registry.digest(human_ref("side")) == side
    assert builder.requests["app"].sbom_generator == f"{REGISTRY}/side@{side}"  # the merged index
