"""BuildxBuilder.build against a fake `docker` program: live log, exit codes, and the stall watchdog."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from engine.build import watch as watch_module
from engine.build.builder import BuildxBuilder
from engine.errors import BuildError, BuildStalled, EngineUnavailable
from tests.engine.build.setups import request

DIGEST = "sha256:" + "ab" * 32

# A stand-in for `docker`: its behaviour comes from SCENARIO; it writes the metadata file buildx would.
FAKE_DOCKER = textwrap.dedent("""\
    import json, os, pathlib, sys, time
    argv = sys.argv[1:]
    if argv[:2] == ["buildx", "inspect"]:  # no driver named: the builder pushes with buildx
        sys.exit(1)
    pathlib.Path(os.environ["FAKE_ARGV"]).write_text(json.dumps(argv))
    scenario = os.environ["SCENARIO"]
    def say(line):
        print(line, flush=True)
    say("#1 [internal] load build definition from Dockerfile")
    if scenario == "live":  # wait until the test has seen the first lines in the log
        say("#2 [linux/amd64 1/1] FROM scratch")
        while not pathlib.Path(os.environ["GO"]).exists():
            time.sleep(0.01)
    if scenario == "stall_push":
        say("#9 pushing layers")
        time.sleep(120)
    if scenario == "stall_deaf":  # ignores SIGTERM: only SIGKILL ends it
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("#9 pushing layers")
        time.sleep(120)
    if scenario == "stall_run":
        say("#5 [linux/amd64 2/2] RUN sleep infinity")
        time.sleep(120)
    if scenario == "echo":  # a build whose output repeats its arguments (as a RUN echo would)
        say("#3 " + " ".join(argv))
        say("#4 BUILDX_GIT_INFO=" + os.environ.get("BUILDX_GIT_INFO", "unset"))
    if scenario == "fail":
        say("#5 " + " ".join(argv))
        say("#5 ERROR: process did not complete successfully: exit code: 1")
        sys.exit(1)
    metadata = argv[argv.index("--metadata-file") + 1]
    pathlib.Path(metadata).write_text(json.dumps({"containerimage.digest": os.environ["DIGEST"]}))
    say("#9 DONE 0.1s")
""")


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DockerClient:
    script = tmp_path / "fake_docker.py"
    script.write_text(FAKE_DOCKER, encoding="utf-8")
    monkeypatch.setenv("FAKE_ARGV", str(tmp_path / "argv.json"))
    monkeypatch.setenv("GO", str(tmp_path / "go"))
    monkeypatch.setenv("DIGEST", DIGEST)
    return DockerClient(client_call=[sys.executable, str(script)])


def test_a_build_returns_the_pushed_digest_and_logs_the_command_and_output(
        tmp_path: Path, fake_docker: DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIO", "ok")
    log = tmp_path / "logs" / "n.log"
    result = BuildxBuilder(fake_docker).build(request(tmp_path), log)
    assert result.digest == DIGEST and result.node == "n" and result.log_path == str(log)
    lines = log.read_text().splitlines()
    assert lines[0].startswith("$ docker buildx build --platform linux/amd64,linux/arm64 ")
    assert lines[1:] == ["#1 [internal] load build definition from Dockerfile", "#9 DONE 0.1s"]


def test_the_run_command_adds_labels_metadata_and_plain_progress(
        tmp_path: Path, fake_docker: DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIO", "ok")
    log = tmp_path / "n.log"
    BuildxBuilder(fake_docker).build(request(tmp_path), log)
    argv = (tmp_path / "argv.json").read_text()
    assert argv == (
        f'["buildx", "build", "--platform", "linux/amd64,linux/arm64", '
        f'"--file", "{tmp_path}/ctx/Dockerfile", '
        f'"--tag", "localhost:5000/t/n:sb-1", "--push", "--label", "org.stackbuild.node=n", '
        f'"--metadata-file", "{tmp_path}/n.metadata.json", "--progress", "plain", "{tmp_path}/ctx"]')


def test_the_log_grows_while_the_build_runs(tmp_path: Path, fake_docker: DockerClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIO", "live")
    log = tmp_path / "n.log"
    worker = threading.Thread(target=BuildxBuilder(fake_docker).build, args=(request(tmp_path), log))
    worker.start()
    deadline = time.monotonic() + 20
    while "FROM scratch" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the log stayed without the lines already printed"
        time.sleep(0.01)
    assert worker.is_alive()  # the build has not finished: the lines were written as they came
    (tmp_path / "go").touch()
    worker.join(timeout=20)
    assert "#9 DONE 0.1s" in log.read_text()


def test_a_failing_build_raises_with_exit_code_and_log_tail(tmp_path: Path, fake_docker: DockerClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIO", "fail")
    log = tmp_path / "n.log"
    with pytest.raises(BuildError) as caught:
        BuildxBuilder(fake_docker).build(request(tmp_path), log)
    assert not isinstance(caught.value, BuildStalled)
    assert caught.value.exit_code_of_build == 1
    assert "exit code: 1" in caught.value.log_tail
    assert log.read_text().endswith("\nexit code 1\n")


SECRET_ARGS = (("GH_TOKEN", "s3cr3t-value"), ("PLAIN", "visible"))


def test_secret_looking_build_args_are_run_with_their_value_but_logged_as_stars(
        tmp_path: Path, fake_docker: DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIO", "echo")
    log = tmp_path / "n.log"
    BuildxBuilder(fake_docker).build(request(tmp_path, build_args=SECRET_ARGS), log)
    assert "GH_TOKEN=s3cr3t-value" in (tmp_path / "argv.json").read_text()  # buildx got the value
    text = log.read_text()
    assert "s3cr3t-value" not in text
    assert "--build-arg 'GH_TOKEN=***' --build-arg PLAIN=visible" in text.splitlines()[0]  # shell-quoted
    assert "#3 buildx build" in text and "GH_TOKEN=*** --build-arg PLAIN=visible" in text.split("#3 ")[1]
    assert "#4 BUILDX_GIT_INFO=false" in text  # buildx adds no unsanitised git remote to the provenance


def test_a_failed_build_with_a_secret_arg_names_no_value(tmp_path: Path, fake_docker: DockerClient,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIO", "fail")
    with pytest.raises(BuildError) as caught:
        BuildxBuilder(fake_docker).build(request(tmp_path, build_args=SECRET_ARGS), tmp_path / "n.log")
    assert "GH_TOKEN=***" in caught.value.command
    assert "s3cr3t-value" not in f"{caught.value.command} {caught.value.log_tail} {caught.value}"


def test_a_build_that_prints_nothing_is_stopped_and_names_its_last_line(
        tmp_path: Path, fake_docker: DockerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIO", "stall_push")
    log = tmp_path / "n.log"
    started = time.monotonic()
    with pytest.raises(BuildStalled) as caught:
        BuildxBuilder(fake_docker, stall_timeout_s=0.5).build(request(tmp_path), log)
    assert time.monotonic() - started < 30  # the fake sleeps 120 s: it was stopped, not waited for
    assert caught.value.last_line == "#9 pushing layers"
    assert "no output for 0.5 s after '#9 pushing layers'" in str(caught.value)
    assert log.read_text().endswith("#9 pushing layers\n\nstalled: no output for 0.5 s; stopped\n")


def test_a_stalled_build_that_ignores_sigterm_is_killed(tmp_path: Path, fake_docker: DockerClient,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIO", "stall_deaf")
    monkeypatch.setattr(watch_module, "STOP_GRACE_S", 0.5)
    started = time.monotonic()
    with pytest.raises(BuildStalled):
        BuildxBuilder(fake_docker, stall_timeout_s=0.5).build(request(tmp_path), tmp_path / "n.log")
    assert time.monotonic() - started < 30


def test_extra_options_are_refused_rather_than_dropped(tmp_path: Path, fake_docker: DockerClient) -> None:
    with pytest.raises(ValueError, match="extra buildx options"):
        BuildxBuilder(fake_docker).commands.argv(request(tmp_path, extra={"network": "host"}),
                                                 tmp_path / "m.json")


def test_a_missing_docker_program_means_no_engine(tmp_path: Path) -> None:
    missing = DockerClient(client_call=[str(tmp_path / "no-such-docker")])
    with pytest.raises(EngineUnavailable, match="docker program is not installed"):
        BuildxBuilder(missing).build(request(tmp_path), tmp_path / "n.log")
