"""engine.registry.bases: where a base is looked up (Docker Hub names via the mirror), once, in parallel."""

from __future__ import annotations

import threading

import pytest

from engine.errors import RegistryError
from engine.registry.bases import (
    MIRROR_ENV,
    MirrorError,
    hub_path,
    lookup_reference,
    mirror_host,
    resolve_base,
    resolve_bases,
)
from tests.engine.base_fakes import ALPINE, ALPINE_DIGEST, MOVED_DIGEST, WithBases
from tests.engine.engine_fakes import sha

OPENEULER = "openeuler/openeuler:24.03-lts"
OPENEULER_DIGEST = sha("openeuler 24.03")


@pytest.mark.parametrize(("reference", "path"), [
    ("openeuler/openeuler:24.03-lts", "openeuler/openeuler:24.03-lts"),
    ("alpine:3.20", "library/alpine:3.20"),
    ("alpine", "library/alpine"),
    ("docker.io/library/alpine:3.20", "library/alpine:3.20"),
    ("index.docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04", "nvidia/cuda:12.4.1-base-ubuntu22.04"),
    (f"debian@{ALPINE_DIGEST}", f"library/debian@{ALPINE_DIGEST}"),
    ("localhost:5000/stackbuild/debian:12", None),
    ("quay.io/ascend/cann:8.0", None),
    ("registry.example:443/x/y:1", None),
])
def test_hub_path_recognises_docker_hub_names(reference: str, path: str | None) -> None:
    assert hub_path(reference) == path


def test_docker_hub_names_are_looked_up_below_the_mirror_others_where_they_are() -> None:
    assert lookup_reference(OPENEULER, "127.0.0.1:5001") == "127.0.0.1:5001/openeuler/openeuler:24.03-lts"
    assert lookup_reference("alpine:3.20", "127.0.0.1:5001") == "127.0.0.1:5001/library/alpine:3.20"
    assert lookup_reference("quay.io/a/b:1", "127.0.0.1:5001") == "quay.io/a/b:1"
    assert lookup_reference(OPENEULER, "") == OPENEULER


@pytest.mark.parametrize(("value", "host"), [
    ("", ""), ("http://127.0.0.1:5001", "127.0.0.1:5001"), ("https://mirror.example/", "mirror.example"),
])
def test_mirror_host_takes_a_registry_address(value: str, host: str) -> None:
    assert mirror_host(value) == host


@pytest.mark.parametrize("value", ["127.0.0.1:5001", "ftp://x", "http://x/path", "http://a b", "http://x,y"])
def test_a_bad_mirror_names_the_variable_and_is_bad_input(value: str) -> None:
    with pytest.raises(MirrorError) as caught:
        mirror_host(value)
    assert MIRROR_ENV in str(caught.value)
    assert "http://HOST:PORT" in str(caught.value)
    assert caught.value.exit_code == 2


def test_resolve_base_goes_through_the_mirror_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = WithBases({f"127.0.0.1:5001/{OPENEULER}": OPENEULER_DIGEST})
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:5001")
    assert resolve_base(OPENEULER, registry) == OPENEULER_DIGEST
    monkeypatch.delenv(MIRROR_ENV)
    assert resolve_base(OPENEULER, registry) is None  # asked at openeuler/openeuler itself: not there
    assert registry.asked == [f"127.0.0.1:5001/{OPENEULER}"]


def test_each_distinct_base_is_asked_once() -> None:
    registry = WithBases({ALPINE: ALPINE_DIGEST, OPENEULER: OPENEULER_DIGEST})
    found = resolve_bases([ALPINE, OPENEULER, ALPINE, ALPINE], registry)
    assert found == {ALPINE: ALPINE_DIGEST, OPENEULER: OPENEULER_DIGEST}
    assert sorted(registry.asked) == sorted([ALPINE, OPENEULER])
    assert dict(registry.requests) == {"HEAD": 2}
    assert resolve_bases([], registry) == {}


def test_bases_are_resolved_in_parallel() -> None:
    both_asking = threading.Barrier(2, timeout=10)  # broken (an error) unless two lookups overlap

    class Slow(WithBases):
        def digest(self, reference: str) -> str | None:
            both_asking.wait()
            return super().digest(reference)

    both = {ALPINE: ALPINE_DIGEST, OPENEULER: OPENEULER_DIGEST}
    assert resolve_bases([ALPINE, OPENEULER], Slow(both)) == both


def test_a_missing_or_unreachable_base_is_left_out() -> None:
    class Failing(WithBases):
        def digest(self, reference: str) -> str | None:
            if reference == OPENEULER:
                raise RegistryError("HEAD https://registry-1.docker.io/...: HTTP 401 Unauthorized")
            return super().digest(reference)

    registry = Failing({ALPINE: MOVED_DIGEST})
    assert resolve_bases([ALPINE, OPENEULER, "quay.io/missing/image:1"], registry) == {ALPINE: MOVED_DIGEST}
