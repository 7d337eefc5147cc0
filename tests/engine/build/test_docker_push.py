"""On the docker driver BuildxBuilder stores the image and pushes it once with `docker push` (a fake
`docker` program here; tests/integration builds with the real engine)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from engine.build.builder import BuildxBuilder, PushGate
from engine.build.buildlog import only_cache_export_failed, transient_failure
from engine.build.buildx_args import image_output
from engine.build.dockerpush import pushed_names
from engine.build.request import BuildRequest
from engine.errors import BuildError, EngineError, EngineUnavailable, PushError
from tests.engine.build.setups import choose, plant
from tests.engine.build.setups import request as builder_request

DIGEST = "sha256:" + "cd" * 32
OTHER = "sha256:" + "ef" * 32
TAGS = ("localhost:5000/t/n:sb-1", "localhost:5000/t/n:extra")

# A stand-in for `docker`: `buildx inspect` names DRIVER, `buildx build` behaves as BUILD says and
# `push` as PUSH says, `context inspect` as CONTEXT says; every call is appended to CALLS.
FAKE_DOCKER = textwrap.dedent("""\
    import json, os, pathlib, sys
    argv = sys.argv[1:]
    with open(os.environ["CALLS"], "a") as calls:
        calls.write(json.dumps(argv) + "\\n")
    if argv[0] == "version":
        if os.environ.get("ENGINE") == "down":
            print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", file=sys.stderr)
            sys.exit(1)
        print("26.1.5"); sys.exit(0)
    if argv[:2] == ["context", "inspect"]:
        if os.environ.get("CONTEXT") == "hangs":
            import time; time.sleep(30)
        sys.exit(0 if os.environ.get("CONTEXT") == "yes" else 1)
    if argv[:2] == ["buildx", "inspect"] or argv[2:4] == ["buildx", "inspect"]:
        if not os.environ.get("DRIVER"):
            print("ERROR: no builder found"); sys.exit(1)
        print("Name:          default\\nDriver:        " + os.environ["DRIVER"] + "\\n\\nNodes:")
        sys.exit(0)
    if argv[0] == "push":
        print("The push refers to repository [localhost:5000/t/n]")
        if os.environ["PUSH"] == "fail":
            print("received unexpected HTTP status: 503 Service Unavailable"); sys.exit(1)
        digest = os.environ["OTHER"] if os.environ["PUSH"] == "other" else os.environ["DIGEST"]
        print("3f1e0a2b9c8d: Pushed")
        print(argv[1].rsplit(":", 1)[1] + ": digest: " + digest + " size: 1607")
        sys.exit(0)
    print("#10 exporting to image")
    named = argv[argv.index("--tag") + 1] if "--tag" in argv else argv[argv.index("--output") + 1]
    print("#10 naming to " + named + " done")
    print("#10 DONE 0.1s")
    if os.environ["BUILD"] == "cache_fail":
        print("#11 exporting cache to registry")
        print("#11 ERROR: failed to push localhost:5000/t/n:sbcache: 503 Service Unavailable")
        sys.exit(1)
    metadata = argv[argv.index("--metadata-file") + 1]
    pathlib.Path(metadata).write_text(json.dumps({"containerimage.digest": os.environ["DIGEST"]}))
""")


def request(tmp_path: Path, **changes: object) -> BuildRequest:
    return builder_request(tmp_path, **{"tags": TAGS, **changes})


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DockerClient:
    script = tmp_path / "fake_docker.py"
    script.write_text(FAKE_DOCKER, encoding="utf-8")
    for name, value in dict(CALLS=str(tmp_path / "calls"), DIGEST=DIGEST, OTHER=OTHER, DRIVER="docker",
                            BUILD="ok", PUSH="ok").items():
        monkeypatch.setenv(name, value)
    return DockerClient(client_call=[sys.executable, str(script)])


def calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()]


def test_on_the_docker_driver_the_image_is_stored_then_each_tag_pushed_once(
        tmp_path: Path, docker: DockerClient) -> None:
    log = tmp_path / "n.log"
    result = BuildxBuilder(docker).build(request(tmp_path), log)
    inspect, build, *pushes = calls(tmp_path)
    assert inspect == ["buildx", "inspect"]
    assert "--push" not in build and build[build.index("--output") + 1] == "type=image"
    assert pushes == [["push", TAGS[0]], ["push", TAGS[1]]]
    assert result.digest == DIGEST
    text = log.read_text()
    assert "--output type=image" in text.splitlines()[0]
    assert f"$ {sys.executable}" in text and f"push {TAGS[1]}" in text  # both commands are logged


def test_the_driver_is_asked_once_per_builder(tmp_path: Path, docker: DockerClient) -> None:
    builder = BuildxBuilder(docker)
    builder.build(request(tmp_path), tmp_path / "a.log")
    builder.build(request(tmp_path), tmp_path / "b.log")
    assert [call for call in calls(tmp_path) if call[:2] == ["buildx", "inspect"]] == [["buildx", "inspect"]]


@pytest.mark.parametrize("driver", ["docker-container", "remote", ""])
def test_other_drivers_and_unknown_ones_push_with_buildx(
        tmp_path: Path, docker: DockerClient, monkeypatch: pytest.MonkeyPatch, driver: str) -> None:
    monkeypatch.setenv("DRIVER", driver)
    BuildxBuilder(docker).build(request(tmp_path), tmp_path / "n.log")
    build = calls(tmp_path)[1]
    assert "--push" in build and "--output" not in build
    assert not [call for call in calls(tmp_path) if call[0] == "push"]


STAGING = "localhost:5000/t/n:sbstage-amd64"
STAGED = image_output(STAGING, push=True)  # a pool builder's platform image (platform_push)


def test_what_buildx_would_push_itself_is_named() -> None:
    here = Path("/w")
    assert pushed_names(request(here)) == TAGS
    assert pushed_names(request(here, push=False, load=True)) == ()
    assert pushed_names(request(here, push=False, output=STAGED, tags=())) == (STAGING,)
    assert pushed_names(request(here, push=False, output="type=image,name=r/n:p", tags=())) == ()
    assert pushed_names(request(here, push=False, output="type=oci,dest=/tmp/x.tar", tags=())) == ()


def test_a_pool_builders_platform_image_is_stored_then_pushed_by_its_name(
        tmp_path: Path, docker: DockerClient) -> None:
    staged = request(tmp_path, push=False, output=STAGED, tags=())
    result = BuildxBuilder(docker).build(staged, tmp_path / "n.log")
    _, build, push = calls(tmp_path)
    assert build[build.index("--output") + 1] == f"type=image,name={STAGING}"
    assert push == ["push", STAGING] and result.digest == DIGEST


def test_a_failed_push_is_a_push_error_whose_log_shows_the_registry_fault(
        tmp_path: Path, docker: DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH", "fail")
    log = tmp_path / "n.log"
    with pytest.raises(PushError) as caught:
        BuildxBuilder(docker).build(request(tmp_path), log)
    assert "docker push failed with exit code 1" in str(caught.value)
    assert caught.value.log_path == str(log) and "503 Service Unavailable" in caught.value.log_tail
    assert transient_failure(log.read_text()) == "503 Service Unavailable"  # so the runner repeats it


def test_a_push_that_reports_another_digest_fails(tmp_path: Path, docker: DockerClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH", "other")
    with pytest.raises(PushError, match=f"sent {OTHER}, the build stored {DIGEST}"):
        BuildxBuilder(docker).build(request(tmp_path), tmp_path / "n.log")


def test_a_failed_cache_export_still_pushes_the_stored_image(tmp_path: Path, docker: DockerClient,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILD", "cache_fail")
    log = tmp_path / "n.log"
    with pytest.raises(BuildError) as caught:
        BuildxBuilder(docker).build(request(tmp_path), log)
    assert not isinstance(caught.value, PushError)
    assert [call[0] for call in calls(tmp_path)[2:]] == ["push", "push"]
    assert only_cache_export_failed(log.read_text())  # the runner takes the pushed image and warns


def test_the_engine_check_asks_its_version_and_meanwhile_the_driver_the_first_build_needs(
        tmp_path: Path, docker: DockerClient) -> None:
    builder = BuildxBuilder(docker)
    assert builder.check() == "26.1.5"
    builder.build(request(tmp_path), tmp_path / "a.log")
    asked = [call[:2] for call in calls(tmp_path) if call[0] == "version" or call[:2] == ["buildx", "inspect"]
             ]
    assert sorted(asked) == [["buildx", "inspect"], ["version", "--format"]]  # each once


def test_an_engine_that_does_not_answer_is_named_with_how_to_start_one(
        tmp_path: Path, docker: DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE", "down")
    with pytest.raises(EngineUnavailable) as caught:
        BuildxBuilder(docker).check()
    assert caught.value.message == ("the Docker engine does not answer: Cannot connect to the Docker "
                                    "daemon at unix:///var/run/docker.sock.")
    assert caught.value.hint == "run `make setup` to start it"


def test_the_push_gate_is_called_around_the_push_with_the_stored_digest(tmp_path: Path,
                                                                        docker: DockerClient) -> None:
    told: list[tuple[str, str, int]] = []

    def note(when: str) -> Callable[[str], None]:
        return lambda digest: told.append((when, digest, len(calls(tmp_path))))

    gate = PushGate(note("before"), note("after"))
    BuildxBuilder(docker).build(request(tmp_path), tmp_path / "n.log", gate)
    assert told == [("before", DIGEST, 2), ("after", DIGEST, 4)]  # after inspect and build; after both pushes


def test_a_push_gate_that_refuses_stops_the_push(tmp_path: Path, docker: DockerClient) -> None:
    def refuse(digest: str) -> None:
        raise EngineError("the parent failed", "fix it")

    with pytest.raises(EngineError, match="the parent failed"):
        BuildxBuilder(docker).build(request(tmp_path), tmp_path / "n.log", PushGate(refuse, refuse))
    assert not [call for call in calls(tmp_path) if call[0] == "push"]


def test_an_engine_without_buildx_is_named(tmp_path: Path, docker: DockerClient,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIVER", "")  # `buildx inspect` fails
    with pytest.raises(EngineUnavailable, match="names no builder driver: is buildx installed"):
        BuildxBuilder(docker).check()


@pytest.mark.parametrize("context", ["yes", "no", "hangs"])
def test_a_builder_is_asked_through_its_docker_context_when_it_names_one(
        tmp_path: Path, docker: DockerClient, monkeypatch: pytest.MonkeyPatch, context: str) -> None:
    monkeypatch.setenv("CONTEXT", context)
    monkeypatch.setattr("engine.build.probes.PROBE_TIMEOUT_S", 0.5)  # a hung `context inspect` is no context
    assert BuildxBuilder(docker).alive("remote")
    inspect = [call for call in calls(tmp_path) if "inspect" in call and call[0] != "context"]
    expected = ["--context", "remote", "buildx", "inspect", "--bootstrap"] if context == "yes" \
        else ["buildx", "inspect", "--bootstrap", "--builder", "remote"]
    assert inspect == [expected]


@pytest.mark.parametrize(("chosen", "asked"), [("", False), ("ci", True)])
def test_the_contexts_own_builder_is_known_to_run_the_docker_driver_without_asking(
        tmp_path: Path, docker: DockerClient, monkeypatch: pytest.MonkeyPatch, chosen: str,
        asked: bool) -> None:
    program = tmp_path / "bin" / "docker"  # plain `docker` on PATH, with its buildx plugin installed
    program.parent.mkdir()
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{tmp_path / "fake_docker.py"}" "$@"\n')
    program.chmod(0o755)
    plant(tmp_path / "cfg" / "cli-plugins")
    choose(tmp_path / "cfg" / "buildx", {"Key": "k", "Name": chosen})
    monkeypatch.setenv("PATH", f"{program.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    monkeypatch.delenv("BUILDX_BUILDER", raising=False)
    monkeypatch.delenv("BUILDX_CONFIG", raising=False)
    assert BuildxBuilder().check() == "26.1.5"
    assert (["buildx", "inspect"] in calls(tmp_path)) is asked
