"""buildx_args: a BuildRequest → python-on-whales kwargs and an argv, checked; provenance and SBOM flags."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.build.buildx_args import attest_flags, buildx_argv, buildx_kwargs, without_builder
from engine.build.request import (
    UnsafeBuildValue,
    build_request,
)
from tests.engine.build.nodes import BASE, CHILD, DIGEST, ROOT, SECRET_VALUE


@pytest.fixture(autouse=True)
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret's value exists in the environment: nothing here may ever copy it."""
    monkeypatch.setenv("HF_TOKEN", SECRET_VALUE)


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
    ({"build_args": (("A", "1\nRUN touch /pwned"),)},
     "node debian: build arg 'A' contains a control character"),
])
def test_a_smuggled_separator_or_control_character_is_refused(change: dict[str, object],
                                                              message: str) -> None:
    request = replace(build_request(BASE, ROOT), **change)  # type: ignore[arg-type]
    with pytest.raises(UnsafeBuildValue) as caught:
        buildx_kwargs(request, Path("/tmp/m.json"))
    assert caught.value.message == message
    assert caught.value.exit_code == 2


def test_provenance_mode_of_the_node_becomes_the_attest_flag() -> None:
    assert buildx_argv(build_request(BASE, ROOT))[-4:-2] == ["--attest", "type=provenance,mode=max"]
    assert "type=provenance,mode=min" in buildx_argv(build_request(replace(BASE, provenance="min"), ROOT))
    off = buildx_argv(build_request(replace(BASE, provenance="off"), ROOT))
    assert "--provenance=false" in off and "--attest" not in off
    assert attest_flags("") == []
    with pytest.raises(ValueError, match="unknown provenance mode"):
        attest_flags("full")


def test_argv_for_logs_hides_secret_looking_values_the_run_argv_does_not() -> None:
    args = (("GH_TOKEN", "t0k"), ("Db_Password", "pw"), ("V", "1"))
    request = build_request(replace(BASE, args=args), ROOT)
    shown = " ".join(buildx_argv(request))
    assert "GH_TOKEN=*** --build-arg Db_Password=*** --build-arg V=1" in shown
    assert "t0k" not in shown and "pw " not in shown
    assert "GH_TOKEN=t0k" in buildx_argv(request, redact=False)


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


def test_without_builder_drops_the_flag_and_its_value_only_when_asked() -> None:
    argv = ["buildx", "build", "--builder", "ctx", "--platform", "linux/amd64", "."]
    assert without_builder(argv, True) == ["buildx", "build", "--platform", "linux/amd64", "."]
    assert without_builder(argv, False) == argv
    assert without_builder(["buildx", "build", "."], True) == ["buildx", "build", "."]
