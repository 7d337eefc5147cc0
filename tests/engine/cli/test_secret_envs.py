"""`--secret-env-allow` / STACKBUILD_SECRET_ENVS: a stack file's `env:` secret reaches a build only when the
operator allows the variable's name (a pull request could otherwise name any variable of the CI job)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import exits
from engine.cli import main as cli
from tests.engine.cli.clifakes import CheckedBuilder, build, fake_engine
from tests.engine.engine_fakes import NODES, write_stack

VARIABLE = "STACKBUILD_SECRET_ENVS"
REFUSED = ("error: stacks/t/stack.yaml:7: node mid: secret 'pip' reads the environment variable PIP_TOKEN, "
           "which the operator did not allow (if this run may hand that variable to builds, allow it with "
           "--secret-env-allow PIP_TOKEN (or env STACKBUILD_SECRET_ENVS, ':'-separated); or build with "
           "--no-secrets)")
PASSED = ("id=pip,env=PIP_TOKEN",)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny stack, whose node mid (line 7) declares the secret pip from $PIP_TOKEN; nothing allowed."""
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.setenv("PIP_TOKEN", "not-a-real-token")
    stack = write_stack(tmp_path / "repo") / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    stack.write_text(text.replace('tag: "2",', 'tag: "2", secrets: [{id: pip, env: PIP_TOKEN}],', 1),
                     encoding="utf-8")
    return tmp_path / "repo"


@pytest.fixture
def builder(monkeypatch: pytest.MonkeyPatch) -> CheckedBuilder:
    return fake_engine(monkeypatch)


@pytest.mark.parametrize("mode", [[], ["--only", "mid"], ["--check-reproducible", "mid"]],
                         ids=["build", "shard", "check-reproducible"])
def test_a_variable_the_operator_did_not_allow_is_refused_at_the_secret_before_any_build(
        repo: Path, builder: CheckedBuilder, capsys: pytest.CaptureFixture[str], mode: list[str]) -> None:
    assert build(repo, *mode) == exits.EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert REFUSED in error and "Traceback" not in error
    assert builder.order == []
    assert not (repo.parent / "state" / "runs").exists()  # no run was started


@pytest.mark.parametrize("how", ["flag", "environment", "environment list"])
def test_an_allowed_variable_reaches_the_build_of_the_node_declaring_it(
        repo: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    flags = ["--secret-env-allow", "HOME", "--secret-env-allow", "PIP_TOKEN"] if how == "flag" else []
    if how != "flag":
        monkeypatch.setenv(VARIABLE, "PIP_TOKEN" if how == "environment" else "HOME::PIP_TOKEN:")
    assert build(repo, *flags) == exits.EXIT_OK
    assert sorted(builder.requests) == sorted(NODES)
    assert {name: request.secrets for name, request in builder.requests.items() if request.secrets} == {
        "mid": PASSED}


def test_the_flag_wins_over_the_environment_variable(
        repo: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(VARIABLE, "PIP_TOKEN")
    assert build(repo, "--secret-env-allow", "GITHUB_TOKEN") == exits.EXIT_BAD_INPUT
    assert REFUSED in capsys.readouterr().err
    assert builder.order == []
    monkeypatch.setenv(VARIABLE, "GITHUB_TOKEN")
    assert build(repo, "--secret-env-allow", "PIP_TOKEN") == exits.EXIT_OK
    assert builder.requests["mid"].secrets == PASSED


def test_an_allowed_variable_that_is_unset_is_still_passed(
        repo: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    """As before: buildx then gives the step an empty secret (the stack may declare it optional)."""
    monkeypatch.delenv("PIP_TOKEN")
    assert build(repo, "--secret-env-allow", "PIP_TOKEN") == exits.EXIT_OK
    assert builder.requests["mid"].secrets == PASSED


@pytest.mark.parametrize("name", ["PIP-TOKEN", "1PIP", "", "PIP_TOKEN=x", "PIP_TOKEN,GH", "PIP TOKEN"])
def test_a_flag_value_that_is_no_variable_name_is_a_usage_error(
        repo: Path, builder: CheckedBuilder, capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert build(repo, "--secret-env-allow", name) == exits.EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert f"error: --secret-env-allow: {name!r} is not an environment variable name (letters, digits " \
           "and '_', not starting with a digit) (name the variable an `env:` secret reads, e.g. " \
           "--secret-env-allow PIP_TOKEN)" in error
    assert builder.order == []


def test_a_name_in_the_environment_variable_that_is_no_variable_name_is_a_usage_error(
        repo: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(VARIABLE, "PIP_TOKEN,GITHUB_TOKEN")  # ':' separates, as in STACKBUILD_SECRET_DIRS
    assert build(repo) == exits.EXIT_BAD_INPUT
    assert "error: environment variable STACKBUILD_SECRET_ENVS: 'PIP_TOKEN,GITHUB_TOKEN' is not an " \
           "environment variable name" in capsys.readouterr().err
    assert builder.order == []


def test_no_secrets_needs_no_allowance_and_passes_nothing(repo: Path, builder: CheckedBuilder) -> None:
    assert build(repo, "--no-secrets") == exits.EXIT_OK
    assert sorted(builder.requests) == sorted(NODES)
    assert all(request.secrets == () for request in builder.requests.values())


def test_the_repository_settings_cannot_allow_a_variable(
        repo: Path, builder: CheckedBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "pyproject.toml").write_text('[tool.stackbuild]\nsecret-env-allow = ["PIP_TOKEN"]\n',
                                         encoding="utf-8")
    assert build(repo) == exits.EXIT_BAD_INPUT
    assert "unknown key 'secret-env-allow'" in capsys.readouterr().err
    assert builder.order == []


def export_bake(repo: Path, *flags: str) -> int:
    return cli.main(["export", "bake", "--root", str(repo), "--log-format", "json", *flags])


def test_export_bake_refuses_a_variable_the_operator_did_not_allow(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_bake(repo) == exits.EXIT_BAD_INPUT
    assert REFUSED in capsys.readouterr().err
    assert not (repo / "build").exists()


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_export_bake_writes_an_allowed_variable(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                 how: str) -> None:
    if how == "environment":
        monkeypatch.setenv(VARIABLE, "PIP_TOKEN")
    assert export_bake(repo, *(["--secret-env-allow", "PIP_TOKEN"] if how == "flag" else [])) == exits.EXIT_OK
    targets = json.loads((repo / "build/docker-bake.json").read_text(encoding="utf-8"))["target"]
    assert {name: target["secret"] for name, target in targets.items() if "secret" in target} == {
        "mid": list(PASSED)}


def plan(repo: Path, *flags: str) -> int:
    return cli.main(["plan", "--offline", "--root", str(repo), "--state-dir", str(repo.parent / "state"),
                     "--log-format", "json", *flags])


def test_plan_refuses_a_variable_the_operator_did_not_allow_as_build_does(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the plan listed mid as a build that `build` then refused, exit 2, at the secret's line
    assert plan(repo) == exits.EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", REFUSED + "\n")


@pytest.mark.parametrize("how", ["flag", "environment", "no secrets"])
def test_plan_takes_the_variable_allowances_build_takes(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], how: str) -> None:
    if how == "environment":
        monkeypatch.setenv(VARIABLE, "PIP_TOKEN")
    flags = {"flag": ["--secret-env-allow", "PIP_TOKEN"], "environment": [], "no secrets": ["--no-secrets"]}
    assert plan(repo, *flags[how]) == exits.EXIT_OK
    assert capsys.readouterr().out.endswith(f"{len(NODES)} nodes: {len(NODES)} build\n")


def test_plan_refuses_a_flag_value_that_is_no_variable_name(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(repo, "--no-secrets", "--secret-env-allow", "PIP-TOKEN") == exits.EXIT_BAD_INPUT
    assert "error: --secret-env-allow: 'PIP-TOKEN' is not an environment variable name" in \
        capsys.readouterr().err
