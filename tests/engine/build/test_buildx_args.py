"""buildx_args: node + parent digest → BuildRequest → python-on-whales kwargs and an argv."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.build.buildx_args import (
    PARENT_CONTEXT,
    BuildRequest,
    Provenance,
    UnsafeBuildValue,
    attest_flags,
    build_request,
    buildx_argv,
    buildx_kwargs,
    cache_flags,
    parent_image,
    with_epoch,
    without_builder,
)
from graph.model.spec import Node, Secret

ROOT = Path("/repo")
DIGEST = "sha256:" + "ab" * 32
SECRET_VALUE = "s3cr3t-value-never-logged"

BASE = Node(
    name="debian", stack="demo", kind="os", parent=None,
    dockerfile="stacks/demo/os/Dockerfile", context="stacks/demo/os",
    registry="localhost:5000/stackbuild", image="debian", tag="12",
    platforms=("linux/amd64", "linux/arm64"),
)
CHILD = Node(
    name="numpy", stack="demo", kind="framework", parent="debian",
    dockerfile="stacks/demo/framework/numpy/Dockerfile", context="stacks/demo/framework/numpy",
    registry="localhost:5000/stackbuild", image="framework", tag="numpy2.2.6",
    platforms=("linux/amd64", "linux/arm64"),
    args=(("NUMPY_VERSION", "2.2.6"), ("PIP_INDEX", "https://pypi.org/simple")),
    secrets=(Secret("ca-bundle", src="/etc/ssl/certs/ca.crt"), Secret("token", env="HF_TOKEN")),
)


@pytest.fixture(autouse=True)
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret's value exists in the environment: nothing here may ever copy it."""
    monkeypatch.setenv("HF_TOKEN", SECRET_VALUE)


# --- build_request ------------------------------------------------------------------------------


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


# --- buildx_kwargs ------------------------------------------------------------------------------


def test_buildx_kwargs_maps_every_field(tmp_path: Path) -> None:
    metadata = tmp_path / "numpy.metadata.json"
    request = build_request(CHILD, ROOT, BASE, DIGEST)
    kwargs = buildx_kwargs(request, metadata)
    assert kwargs == {
        "context_path": ROOT / "stacks/demo/framework/numpy",
        "file": ROOT / "stacks/demo/framework/numpy/Dockerfile",
        "platforms": ["linux/amd64", "linux/arm64"],
        "tags": [CHILD.ref],
        "build_args": {"NUMPY_VERSION": "2.2.6", "PIP_INDEX": "https://pypi.org/simple"},
        "build_contexts": {"parent": f"docker-image://localhost:5000/stackbuild/debian@{DIGEST}"},
        "secrets": ["id=ca-bundle,src=/etc/ssl/certs/ca.crt", "id=token,env=HF_TOKEN"],
        "labels": dict(request.labels),
        "push": True,
        "metadata_file": metadata,
        "progress": "plain",
    }
    assert isinstance(kwargs["platforms"], list)
    assert isinstance(kwargs["build_args"], dict)


def test_buildx_kwargs_target_only_when_set(tmp_path: Path) -> None:
    assert "target" not in buildx_kwargs(build_request(BASE, ROOT), tmp_path / "m.json")
    with_target = build_request(replace(BASE, target="final"), ROOT)
    assert buildx_kwargs(with_target, tmp_path / "m.json")["target"] == "final"


def test_buildx_kwargs_extra_overrides(tmp_path: Path) -> None:
    request = replace(build_request(BASE, ROOT), extra={"cache_to": "type=inline", "push": False})
    kwargs = buildx_kwargs(request, tmp_path / "m.json")
    assert kwargs["cache_to"] == "type=inline"
    assert kwargs["push"] is False


def test_buildx_kwargs_never_holds_a_secret_value(tmp_path: Path) -> None:
    kwargs = buildx_kwargs(build_request(CHILD, ROOT, BASE, DIGEST), tmp_path / "m.json")
    assert SECRET_VALUE not in repr(kwargs)


# --- buildx_argv --------------------------------------------------------------------------------


def test_buildx_argv_of_a_child() -> None:
    argv = buildx_argv(build_request(CHILD, ROOT, BASE, DIGEST))
    assert argv[:3] == ["docker", "buildx", "build"]
    assert argv[argv.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert argv[argv.index("--file") + 1] == str(ROOT / "stacks/demo/framework/numpy/Dockerfile")
    assert argv[argv.index("--tag") + 1] == CHILD.ref
    assert "--push" in argv
    assert argv[-1] == str(ROOT / "stacks/demo/framework/numpy")
    assert argv[argv.index("--build-context") + 1] == (
        f"parent=docker-image://localhost:5000/stackbuild/debian@{DIGEST}")
    build_args = [argv[i + 1] for i, item in enumerate(argv) if item == "--build-arg"]
    assert build_args == ["NUMPY_VERSION=2.2.6", "PIP_INDEX=https://pypi.org/simple"]
    secrets = [argv[i + 1] for i, item in enumerate(argv) if item == "--secret"]
    assert secrets == ["id=ca-bundle,src=/etc/ssl/certs/ca.crt", "id=token,env=HF_TOKEN"]
    assert "--target" not in argv


def test_buildx_argv_of_a_root_has_no_build_context() -> None:
    argv = buildx_argv(build_request(BASE, ROOT))
    assert "--build-context" not in argv
    assert "--platform" in argv
    assert argv[-1] == str(ROOT / "stacks/demo/os")


def test_buildx_argv_target_and_no_push() -> None:
    request = replace(build_request(replace(BASE, target="final"), ROOT), push=False)
    argv = buildx_argv(request)
    assert argv[argv.index("--target") + 1] == "final"
    assert "--push" not in argv
    assert argv[-1] == str(ROOT / "stacks/demo/os")


def test_buildx_argv_names_secrets_but_never_their_values() -> None:
    argv = buildx_argv(build_request(CHILD, ROOT, BASE, DIGEST))
    joined = " ".join(argv)
    assert SECRET_VALUE not in joined
    assert "id=token,env=HF_TOKEN" in joined
    assert "src=/etc/ssl/certs/ca.crt" in joined


# --- second line of defence: no ',' where buildx splits, no control characters ------------------


def test_a_clean_request_passes_the_check() -> None:
    request = build_request(CHILD, ROOT, BASE, DIGEST)
    assert buildx_kwargs(request, Path("/tmp/m.json"))["tags"] == [
        "localhost:5000/stackbuild/framework:numpy2.2.6"]


@pytest.mark.parametrize(("change", "message"), [
    ({"tags": ("localhost:5000/x,10.9.9.9:5000/y/debian:12",)},
     "node debian: tag 'localhost:5000/x,10.9.9.9:5000/y/debian:12' contains ','"),
    ({"build_contexts": (("parent", "docker-image://a/b@sha256:1,push=true"),)},
     "node debian: build context parent 'docker-image://a/b@sha256:1,push=true' contains ','"),
    ({"platforms": ("linux/amd64,linux/s390x",)},
     "node debian: platform 'linux/amd64,linux/s390x' contains ','"),
    ({"labels": (("org.opencontainers.image.title", "x\x1b]0;owned\x07"),)},
     "node debian: 'x\\x1b]0;owned\\x07' contains the control character U+001B"),
    ({"target": "final\n"}, "node debian: 'final\\n' contains the control character U+000A"),
])
def test_a_smuggled_separator_or_control_character_is_refused(change: dict[str, object],
                                                              message: str) -> None:
    request = replace(build_request(BASE, ROOT), **change)  # type: ignore[arg-type]
    with pytest.raises(UnsafeBuildValue) as caught:
        buildx_kwargs(request, Path("/tmp/m.json"))
    assert caught.value.message == message
    assert caught.value.exit_code == 2


def test_a_registry_cache_ref_with_a_comma_is_refused() -> None:
    node = replace(BASE, registry="localhost:5000/x,type=local")
    with pytest.raises(UnsafeBuildValue, match="node debian: cache ref 'localhost:5000/x,type=local/debian"):
        cache_flags(node, "registry")


def test_a_local_cache_folder_with_a_comma_is_refused() -> None:
    with pytest.raises(UnsafeBuildValue, match="cache folder '/tmp/a,b/"):
        cache_flags(BASE, "local", Path("/tmp/a,b"))


# --- provenance, SOURCE_DATE_EPOCH, secret-looking args -------------------------------------------


def test_provenance_mode_of_the_node_becomes_the_attest_flag() -> None:
    assert buildx_argv(build_request(BASE, ROOT))[-4:-2] == ["--attest", "type=provenance,mode=max"]
    assert "type=provenance,mode=min" in buildx_argv(build_request(replace(BASE, provenance="min"), ROOT))
    off = buildx_argv(build_request(replace(BASE, provenance="off"), ROOT))
    assert "--provenance=false" in off and "--attest" not in off
    assert attest_flags("") == []
    with pytest.raises(ValueError, match="unknown provenance mode"):
        attest_flags("full")


def test_the_commit_time_becomes_source_date_epoch_unless_the_stack_sets_it() -> None:
    provenance = Provenance("https://example.com/r.git", "abc", "2026-01-01T00:00:00+00:00", 1767225600)
    request = build_request(BASE, ROOT, provenance=provenance)
    assert ("SOURCE_DATE_EPOCH", "1767225600") in request.build_args
    assert dict(request.labels)["org.opencontainers.image.created"] == "2026-01-01T00:00:00+00:00"
    assert with_epoch((("SOURCE_DATE_EPOCH", "0"),), 5) == (("SOURCE_DATE_EPOCH", "0"),)
    assert with_epoch((), None) == ()


def test_argv_for_logs_hides_secret_looking_values_the_run_argv_does_not() -> None:
    args = (("GH_TOKEN", "t0k"), ("Db_Password", "pw"), ("V", "1"))
    request = build_request(replace(BASE, args=args), ROOT)
    shown = " ".join(buildx_argv(request))
    assert "GH_TOKEN=*** --build-arg Db_Password=*** --build-arg V=1" in shown
    assert "t0k" not in shown and "pw " not in shown
    assert "GH_TOKEN=t0k" in buildx_argv(request, redact=False)


# --- SBOM attestation ---------------------------------------------------------------------------

def test_a_node_naming_an_sbom_generator_asks_buildx_for_an_sbom_attestation() -> None:
    node = replace(BASE, sbom_generator="sbom-generator:1")
    request = build_request(node, ROOT)
    assert request.sbom_generator == "localhost:5000/stackbuild/sbom-generator:1"
    assert "type=sbom,generator=localhost:5000/stackbuild/sbom-generator:1" in _attests(buildx_argv(request))
    assert buildx_kwargs(request, Path("/m.json"))["attest"] == {
        "type": "sbom", "generator": "localhost:5000/stackbuild/sbom-generator:1"}


def test_a_node_without_a_generator_gets_no_sbom_attestation() -> None:
    assert not [value for value in _attests(buildx_argv(build_request(BASE, ROOT))) if "type=sbom" in value]


def _attests(argv: list[str]) -> list[str]:
    """The values of every --attest flag in argv."""
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "--attest"]


def test_a_generator_with_a_comma_is_refused_before_buildx_runs() -> None:
    request = replace(build_request(BASE, ROOT), sbom_generator="r/gen:1,type=x")
    with pytest.raises(UnsafeBuildValue, match="SBOM generator"):
        buildx_kwargs(request, Path("/m.json"))


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


def test_without_builder_drops_the_flag_and_its_value_only_when_asked() -> None:
    argv = ["buildx", "build", "--builder", "ctx", "--platform", "linux/amd64", "."]
    assert without_builder(argv, True) == ["buildx", "build", "--platform", "linux/amd64", "."]
    assert without_builder(argv, False) == argv
    assert without_builder(["buildx", "build", "."], True) == ["buildx", "build", "."]
