"""`build --no-secrets` and `--secret-src-allow`: the operator, not the stack file, decides which host
files and variables reach a build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import commands, exits
from engine.cli import main as cli
from tests.engine.cli.clifakes import CheckedBuilder, build, fake_engine
from tests.engine.engine_fakes import NODES, write_stack

SECRETS = "secrets:\n  - id: tok\n    src: {src}\n  - id: pip\n    env: PIP_TOKEN\nnodes:"


@pytest.fixture(autouse=True)
def pip_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator allows $PIP_TOKEN (tests/engine/cli/test_secret_envs.py: one that does not)."""
    monkeypatch.setenv("STACKBUILD_SECRET_ENVS", "PIP_TOKEN")


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    """A host file outside the repository, as a runner's credentials are."""
    (tmp_path / "host").mkdir()
    path = tmp_path / "host" / "credentials.json"
    path.write_text('{"auths": {}}\n', encoding="utf-8")
    return path


@pytest.fixture
def repo(tmp_path: Path, host_file: Path) -> Path:
    """The tiny stack, whose stack-level secrets read host_file (line 5) and $PIP_TOKEN."""
    stack = write_stack(tmp_path / "repo") / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    stack.write_text(text.replace("nodes:", SECRETS.format(src=host_file), 1), encoding="utf-8")
    return tmp_path / "repo"


@pytest.fixture
def builder(monkeypatch: pytest.MonkeyPatch) -> CheckedBuilder:
    return fake_engine(monkeypatch)


def test_a_host_file_the_operator_did_not_allow_is_refused_before_any_build(
        repo: Path, host_file: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STACKBUILD_SECRET_DIRS", raising=False)
    assert build(repo) == exits.EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert f"error: stacks/t/stack.yaml:6: node base: secret 'tok' reads the host file {host_file}, " \
           "which lies outside the repository and outside every path the operator allowed (if this run " \
           f"may hand that file to builds, allow it with --secret-src-allow {host_file} (or its folder; " \
           "env STACKBUILD_SECRET_DIRS, ':'-separated); or build with --no-secrets)" in error
    assert "Traceback" not in error
    assert builder.order == []
    assert not (repo.parent / "state" / "runs").exists()  # no run was started


@pytest.mark.parametrize("how", ["file flag", "folder flag", "environment"])
def test_an_allowed_host_file_reaches_every_build_by_its_resolved_path(
        repo: Path, host_file: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        how: str) -> None:
    flags = {"file flag": ["--secret-src-allow", str(host_file)],
             "folder flag": ["--secret-src-allow", str(host_file.parent)], "environment": []}[how]
    if how == "environment":
        monkeypatch.setenv("STACKBUILD_SECRET_DIRS", f"{repo / 'stacks'}:{host_file.parent}")
    assert build(repo, *flags) == exits.EXIT_OK
    assert {name: request.secrets for name, request in builder.requests.items()} == {
        name: ("id=pip,env=PIP_TOKEN", f"id=tok,src={host_file}") for name in NODES}


def test_no_secrets_passes_none_to_any_build_and_says_so_once(
        repo: Path, builder: CheckedBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    assert build(repo, "--no-secrets") == exits.EXIT_OK
    assert sorted(builder.requests) == sorted(NODES)
    assert all(request.secrets == () for request in builder.requests.values())
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    withheld = [event for event in events if event["event"] == "secrets_withheld"]
    assert len(withheld) == 1 and withheld[0]["node"] == "*" and withheld[0]["secrets"] == "pip,tok"


def test_a_build_failing_without_its_secrets_names_no_secrets(
        repo: Path, builder: CheckedBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    builder.fail = {"base"}
    assert build(repo, "--no-secrets") == exits.EXIT_FAILED
    out = capsys.readouterr().out
    assert "node base: build failed with exit code 1" in out
    assert "(this run passed no secrets (--no-secrets), and the node declares pip, tok: a step that needs " \
           "one fails without it; else fix the Dockerfile step shown in the log tail)" in out


def test_an_allowed_path_that_does_not_exist_is_exit_2(repo: Path, builder: CheckedBuilder,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    missing = repo.parent / "no-such-folder"
    assert build(repo, "--secret-src-allow", str(missing)) == exits.EXIT_BAD_INPUT
    assert f"error: --secret-src-allow: {missing} does not exist" in capsys.readouterr().err
    assert builder.order == []


def test_the_repository_settings_cannot_allow_a_host_file(
        repo: Path, host_file: Path, builder: CheckedBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "pyproject.toml").write_text(f'[tool.stackbuild]\nsecret-src-allow = ["{host_file.parent}"]\n',
                                         encoding="utf-8")
    assert build(repo) == exits.EXIT_BAD_INPUT
    assert "unknown key 'secret-src-allow'" in capsys.readouterr().err
    assert builder.order == []


@pytest.fixture
def mid_repo(tmp_path: Path) -> Path:
    """The tiny stack in which only mid declares a secret (leaf is built on mid)."""
    stack = write_stack(tmp_path / "mid-repo") / "stack.yaml"
    text = stack.read_text(encoding="utf-8")
    stack.write_text(text.replace('tag: "2",', 'tag: "2", secrets: [{id: pip, env: PIP_TOKEN}],', 1),
                     encoding="utf-8")
    return tmp_path / "mid-repo"


def reports(repo: Path) -> set[Path]:
    """The report.json files of repo's runs so far."""
    return set((repo.parent / "state" / "runs").glob("*/report.json"))


def test_a_withheld_build_leaves_nothing_a_run_with_the_secrets_reuses(
        mid_repo: Path, builder: CheckedBuilder) -> None:
    """BuildKit cannot tell an image made without a secret from one made with it (its cache keys leave
    secrets out): the withheld run pushes under other content tags and exports no layer cache of the
    node, so the trusted run after it builds mid (with its secret) and leaf on it again."""
    assert build(mid_repo, "--no-secrets") == exits.EXIT_OK
    withheld = dict(builder.requests)
    assert sorted(withheld) == sorted(NODES)
    assert withheld["mid"].secrets == () and withheld["mid"].cache_to == ""
    assert withheld["mid"].cache_from.startswith("type=registry,ref=")  # reading harms no other run
    assert withheld["base"].cache_to and withheld["leaf"].cache_to  # they declare none
    builder.requests.clear()
    before = reports(mid_repo)
    assert build(mid_repo) == exits.EXIT_OK
    assert sorted(builder.requests) == ["leaf", "mid"]
    assert builder.requests["mid"].secrets == ("id=pip,env=PIP_TOKEN",) and builder.requests["mid"].cache_to
    assert builder.requests["mid"].tags != withheld["mid"].tags
    (report,) = reports(mid_repo) - before
    nodes = json.loads(report.read_text(encoding="utf-8"))["nodes"]
    assert (nodes["mid"]["reason"], nodes["leaf"]["reason"]) == ("secrets_passed", "parent_rebuilt: mid")
    builder.requests.clear()
    assert build(mid_repo, "--no-secrets") == exits.EXIT_OK  # its own images are still there
    assert builder.requests == {}


def test_plan_no_secrets_shows_what_build_no_secrets_would_build(
        mid_repo: Path, builder: CheckedBuilder, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "RegistryClient", lambda: builder.registry)
    assert build(mid_repo) == exits.EXIT_OK  # a trusted run: everything is up to date for the next one
    capsys.readouterr()

    def planned(*args: str) -> dict[str, tuple[str, str]]:
        assert cli.main(["plan", "--root", str(mid_repo), "--state-dir", str(mid_repo.parent / "state"),
                         "--format", "json", "--log-format", "json", *args]) == exits.EXIT_OK
        entries = json.loads(capsys.readouterr().out)["nodes"]
        return {entry["node"]: (entry["action"], entry["reason"]) for entry in entries}

    assert {action for action, _ in planned().values()} == {"skip"}
    withheld = planned("--no-secrets")
    assert (withheld["base"][0], withheld["mid"], withheld["leaf"][0]) == (
        "skip", ("build", "secrets_withheld"), "build")


def test_explain_no_secrets_shows_the_withheld_fingerprint(
        mid_repo: Path, builder: CheckedBuilder, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "RegistryClient", lambda: builder.registry)

    def explained(*args: str) -> list[str]:
        assert cli.main(["explain", "--root", str(mid_repo), "--state-dir", str(mid_repo.parent / "state"),
                         "--node", "mid", "--log-format", "json", *args]) == exits.EXIT_OK
        return capsys.readouterr().out.splitlines()

    trusted, withheld = explained(), explained("--no-secrets")
    assert "  secrets     withheld" in withheld and "  secrets     withheld" not in trusted
    fingerprint = [line for line in withheld if line.startswith("fingerprint:")]
    assert fingerprint != [line for line in trusted if line.startswith("fingerprint:")]


def plan(repo: Path, *args: str) -> int:
    """`stackbuild plan ARGS` of repo (state beside it, JSON logs); its exit code."""
    return cli.main(["plan", "--root", str(repo), "--state-dir", str(repo.parent / "state"),
                     "--format", "json", "--log-format", "json", *args])


PLANS = {"plan": [], "plan --offline": ["--offline"], "plan --offline --full": ["--offline", "--full"]}


@pytest.mark.parametrize("mode", list(PLANS))
def test_plan_refuses_a_host_file_the_operator_did_not_allow_as_build_does(
        repo: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], mode: str) -> None:
    # the plan listed every node (exit 0) that the build then refused, exit 2, at the secret's line
    monkeypatch.delenv("STACKBUILD_SECRET_DIRS", raising=False)
    monkeypatch.setattr(commands, "RegistryClient", lambda: builder.registry)
    assert build(repo) == exits.EXIT_BAD_INPUT
    refused = capsys.readouterr().err
    assert refused.startswith("error: stacks/t/stack.yaml:6: node base: secret 'tok' reads the host file ")
    assert plan(repo, *PLANS[mode]) == exits.EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", refused)
    assert builder.registry.events == []


@pytest.mark.parametrize("how", ["file flag", "folder flag", "environment", "no secrets"])
@pytest.mark.parametrize("mode", list(PLANS))
def test_plan_takes_the_allowances_build_takes(
        repo: Path, host_file: Path, builder: CheckedBuilder, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], mode: str, how: str) -> None:
    monkeypatch.delenv("STACKBUILD_SECRET_DIRS", raising=False)
    monkeypatch.setattr(commands, "RegistryClient", lambda: builder.registry)
    flags = {"file flag": ["--secret-src-allow", str(host_file)],
             "folder flag": ["--secret-src-allow", str(host_file.parent)], "environment": [],
             "no secrets": ["--no-secrets"]}[how]
    if how == "environment":
        monkeypatch.setenv("STACKBUILD_SECRET_DIRS", str(host_file.parent))
    assert plan(repo, *PLANS[mode], *flags) == exits.EXIT_OK
    entries = json.loads(capsys.readouterr().out)["nodes"]
    assert sorted(entry["node"] for entry in entries) == sorted(NODES)
    assert {entry["action"] for entry in entries} == {"build"}


def test_plan_checks_an_allowed_path_as_build_does(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = repo.parent / "no-such-folder"
    assert plan(repo, "--offline", "--secret-src-allow", str(missing)) == exits.EXIT_BAD_INPUT
    assert f"error: --secret-src-allow: {missing} does not exist" in capsys.readouterr().err
