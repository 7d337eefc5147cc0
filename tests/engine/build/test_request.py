"""request: node + parent digest → BuildRequest: context, labels, args, secrets, cache flags, epoch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.build.request import (
    PARENT_CONTEXT,
    BuildRequest,
    Provenance,
    UnsafeBuildValue,
    build_request,
    cache_flags,
    parent_image,
    with_epoch,
)
from graph.model.spec import Secret
from tests.engine.build.nodes import BASE, CHILD, DIGEST, ROOT, SECRET_VALUE


@pytest.fixture(autouse=True)
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret's value exists in the environment: nothing here may ever copy it."""
    monkeypatch.setenv("HF_TOKEN", SECRET_VALUE)


def test_root_request_has_no_build_context_and_no_base_labels() -> None:
    request = build_request(BASE, ROOT)
    assert request.build_contexts == ()
    labels = dict(request.labels)
    assert "org.opencontainers.image.base.name" not in labels
    assert "org.opencontainers.image.base.digest" not in labels


def test_root_request_fields() -> None:
    request = build_request(BASE, ROOT)
    assert request == BuildRequest(
        node="debian",
        context=ROOT / "stacks/demo/os",
        dockerfile=ROOT / "stacks/demo/os/Dockerfile",
        platforms=("linux/amd64", "linux/arm64"),
        tags=("localhost:5000/stackbuild/debian:12",),
        labels=request.labels,
        provenance="max",
    )
    assert dict(request.labels) == {
        "org.opencontainers.image.title": "debian",
        "org.stackbuild.stack": "demo",
        "org.stackbuild.node": "debian",
        "org.stackbuild.layer": "os",
    }
    assert request.push is True
    assert request.target == ""


def test_child_request_uses_the_parent_by_exact_digest() -> None:
    request = build_request(CHILD, ROOT, BASE, DIGEST)
    assert request.build_contexts == (
        (PARENT_CONTEXT, f"docker-image://localhost:5000/stackbuild/debian@{DIGEST}"),
    )
    assert PARENT_CONTEXT == "parent"
    value = dict(request.build_contexts)["parent"]
    assert ":12" not in value  # never the moving tag
    assert value.endswith("@" + DIGEST)


def test_child_request_has_base_labels() -> None:
    labels = dict(build_request(CHILD, ROOT, BASE, DIGEST).labels)
    assert labels["org.opencontainers.image.base.name"] == BASE.ref
    assert labels["org.opencontainers.image.base.digest"] == DIGEST
    assert labels["org.stackbuild.node"] == "numpy"


def test_labels_carry_attributes_and_provenance_but_never_the_tag() -> None:
    node = replace(CHILD, attrs=(("framework", "numpy"), ("framework_version", "2.2.6"),
                                 ("python", "3.11"), ("scope", "training")), definition="numpy")
    provenance = Provenance("https://example.org/repo.git", "abc123", "2026-01-01T00:00:00Z")
    labels = dict(build_request(node, ROOT, BASE, DIGEST, provenance).labels)
    assert labels == {
        "org.opencontainers.image.title": "numpy",
        "org.opencontainers.image.version": "2.2.6",
        "org.opencontainers.image.source": "https://example.org/repo.git",
        "org.opencontainers.image.revision": "abc123",
        "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
        "org.opencontainers.image.base.name": BASE.ref,
        "org.opencontainers.image.base.digest": DIGEST,
        "org.stackbuild.stack": "demo",
        "org.stackbuild.node": "numpy",
        "org.stackbuild.layer": "framework",
        "org.stackbuild.framework": "numpy",
        "org.stackbuild.framework_version": "2.2.6",
        "org.stackbuild.python": "3.11",
        "org.stackbuild.scope": "training",
    }
    assert node.tag not in labels.values()


def test_an_external_parent_is_pinned_by_digest_without_its_tag() -> None:
    base = replace(BASE, external="openeuler/openeuler:22.03-lts-sp3")
    assert parent_image(base, DIGEST) == f"openeuler/openeuler@{DIGEST}"
    registry_base = replace(BASE, external="localhost:5000/os/debian:12")
    assert parent_image(registry_base, DIGEST) == f"localhost:5000/os/debian@{DIGEST}"


def test_labels_are_sorted_pairs() -> None:
    labels = build_request(CHILD, ROOT, BASE, DIGEST).labels
    assert list(labels) == sorted(labels)


@pytest.mark.parametrize("digest", ["", None])
def test_child_without_parent_digest_is_refused(digest: str | None) -> None:
    with pytest.raises(ValueError, match="numpy: parent debian has no pushed digest"):
        build_request(CHILD, ROOT, BASE, digest or "")


def test_parent_image_is_repository_at_digest() -> None:
    assert parent_image(BASE, DIGEST) == f"localhost:5000/stackbuild/debian@{DIGEST}"


def test_parent_image_follows_a_registry_override() -> None:
    moved = replace(BASE, registry="mirror.example:443/team")
    request = build_request(CHILD, ROOT, moved, DIGEST)
    assert dict(request.build_contexts)["parent"] == (
        f"docker-image://mirror.example:443/team/debian@{DIGEST}")


def test_args_target_and_tags_are_carried() -> None:
    request = build_request(replace(CHILD, target="runtime"), ROOT, BASE, DIGEST)
    assert request.build_args == CHILD.args
    assert request.target == "runtime"
    assert request.tags == (CHILD.ref,)
    assert request.platforms == CHILD.platforms


def test_secrets_become_id_src_and_id_env_flags() -> None:
    request = build_request(CHILD, ROOT, BASE, DIGEST)
    assert request.secrets == ("id=ca-bundle,src=/etc/ssl/certs/ca.crt", "id=token,env=HF_TOKEN")


@pytest.mark.parametrize("secret", [
    Secret("a,b", env="X"),
    Secret("id", env="X,Y"),
    Secret("id", src="/tmp/a,b"),
])
def test_secret_with_comma_is_refused(secret: Secret) -> None:
    with pytest.raises(ValueError, match="contains ','"):
        build_request(replace(BASE, secrets=(secret,)), ROOT)


def test_a_registry_cache_ref_with_a_comma_is_refused() -> None:
    node = replace(BASE, registry="localhost:5000/x,type=local")
    with pytest.raises(UnsafeBuildValue, match="node debian: cache ref 'localhost:5000/x,type=local/debian"):
        cache_flags(node, "registry")


def test_a_local_cache_folder_with_a_comma_is_refused() -> None:
    with pytest.raises(UnsafeBuildValue, match="cache folder '/tmp/a,b/"):
        cache_flags(BASE, "local", Path("/tmp/a,b"))


def test_the_commit_time_becomes_source_date_epoch_unless_the_stack_sets_it() -> None:
    provenance = Provenance("https://example.com/r.git", "abc", "2026-01-01T00:00:00+00:00", 1767225600)
    request = build_request(BASE, ROOT, provenance=provenance)
    assert ("SOURCE_DATE_EPOCH", "1767225600") in request.build_args
    assert dict(request.labels)["org.opencontainers.image.created"] == "2026-01-01T00:00:00+00:00"
    assert with_epoch((("SOURCE_DATE_EPOCH", "0"),), 5) == (("SOURCE_DATE_EPOCH", "0"),)
    assert with_epoch((), None) == ()


def test_inline_cache_rides_in_the_image_and_imports_from_the_last_published_one() -> None:
    assert cache_flags(BASE, "inline") == (f"type=registry,ref={BASE.ref}", "type=inline")
    # one ref for every platform: each platform image carries its own inline cache
    assert cache_flags(BASE, "inline", None, "linux/arm64") == cache_flags(BASE, "inline")


def test_registry_cache_modes_differ_only_in_depth() -> None:
    ref = f"{BASE.repository}:sbcache-"
    (max_from, max_to), (min_from, min_to) = cache_flags(BASE, "registry"), cache_flags(BASE, "registry-min")
    assert max_from == min_from and max_from.startswith(f"type=registry,ref={ref}")
    assert max_to == f"{max_from},mode=max,ignore-error=true"
    assert min_to == f"{min_from},mode=min,ignore-error=true"


def test_an_inline_cache_ref_with_a_comma_is_refused() -> None:
    node = replace(BASE, registry="localhost:5000/x,type=local")
    with pytest.raises(UnsafeBuildValue, match="node debian: cache ref 'localhost:5000/x,type=local/debian"):
        cache_flags(node, "inline")


@pytest.mark.parametrize("mode", ["inline", "registry", "registry-min", "local"])
def test_a_withheld_build_of_a_node_with_secrets_reads_the_cache_but_exports_none(mode: str) -> None:
    """BuildKit's cache key of a secret-mount step leaves the secret out: what a build without the
    secret made must not land where builds with it import from (no cache-to, no inline metadata)."""
    node = replace(BASE, secrets=(Secret("hf", env="HF_TOKEN"),))
    cache_from, cache_to = cache_flags(node, mode, Path("/tmp/cache"))
    assert cache_to  # a build with its secrets exports
    assert cache_flags(node, mode, Path("/tmp/cache"), withheld=True) == (cache_from, "")
    assert cache_flags(node, mode, Path("/tmp/cache"), "linux/arm64", withheld=True)[1] == ""


def test_withholding_leaves_the_cache_of_a_node_without_secrets_alone() -> None:
    """Its steps' cache keys hold its parent's digest: a cache made on a withheld parent's image is
    the cache of that image, never a trusted one's."""
    node = replace(BASE, secrets=())
    assert cache_flags(node, "registry", withheld=True) == cache_flags(node, "registry")
