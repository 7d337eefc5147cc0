"""cli: a subcommand takes its options anywhere, between its positional arguments too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.run import api
from tests.engine.cli.clifakes import DEMO_CA

ROOT = Path(__file__).resolve().parents[3]
MIRROR = "mirror.example:5000/ci"
TARGETED = ("plan", "build", "publish", "lint", "graph", "images", "check", "sign", "verify")
COMMANDS = (*TARGETED, "explain", "promote", "history", "export", "diff")

pytestmark = pytest.mark.filterwarnings("error")  # argparse warns of positionals it did not expect


def parsed(tmp_path: Path, *argv: str) -> dict[str, object]:
    """argv parsed and checked, without the handler (a fresh function for lazily imported commands)."""
    args = cli.parse_checked([*argv, "--root", str(tmp_path)], {})
    return {key: value for key, value in vars(args).items() if key != "handler"}


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("command", TARGETED)
def test_an_option_between_stack_folders(tmp_path: Path, command: str) -> None:
    mixed = parsed(tmp_path, command, "stacks/a", "--registry", MIRROR, "stacks/b")
    assert mixed == parsed(tmp_path, command, "--registry", MIRROR, "stacks/a", "stacks/b")
    assert (mixed["targets"], mixed["registry"]) == (["stacks/a", "stacks/b"], MIRROR)


@pytest.mark.parametrize(("mixed", "usual"), [
    (["plan", "stacks/a", "--offline", "--format", "json", "stacks/b"],
     ["plan", "--offline", "--format", "json", "stacks/a", "stacks/b"]),
    (["build", "stacks/a", "--jobs", "3", "--select", "x", "stacks/b", "--select", "y"],
     ["build", "--jobs", "3", "--select", "x", "--select", "y", "stacks/a", "stacks/b"]),
    (["build", "stacks/a", "--check-reproducible", "n1", "n2", "--full", "stacks/b"],
     ["build", "--check-reproducible", "n1", "n2", "--full", "stacks/a", "stacks/b"]),
    (["graph", "stacks/a", "--format", "dot", "stacks/b", "--cluster", "none"],
     ["graph", "--format", "dot", "--cluster", "none", "stacks/a", "stacks/b"]),
    (["explain", "stacks/a", "--node", "numpy", "stacks/b"],
     ["explain", "--node", "numpy", "stacks/a", "stacks/b"]),
    (["diff", "v1", "--format", "json", "v2", "stacks/a", "--max-nodes", "9", "stacks/b"],
     ["diff", "--format", "json", "--max-nodes", "9", "v1", "v2", "stacks/a", "stacks/b"]),
    (["export", "bake", "--out", "x.json", "stacks/a"], ["export", "--out", "x.json", "bake", "stacks/a"]),
    (["export", "meta", "stacks/a", "--max-nodes", "9", "stacks/b"],
     ["export", "--max-nodes", "9", "meta", "stacks/a", "stacks/b"]),
    (["promote", "lock.json", "--adopt"], ["promote", "--adopt", "lock.json"]),
])
def test_options_anywhere_parse_as_options_first(tmp_path: Path, mixed: list[str], usual: list[str]) -> None:
    assert parsed(tmp_path, *mixed) == parsed(tmp_path, *usual)


def test_plan_with_an_option_between_two_stacks_plans_both(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["plan", "stacks/demo", "--root", str(ROOT), "--offline", "--format", "json", *DEMO_CA,
                     "stacks/tools"])
    nodes = {entry["node"] for entry in json.loads(capsys.readouterr().out)["nodes"]}
    demo = {entry.node for entry in api.plan(api.Options(root=ROOT, targets=(Path("stacks/demo"),)))}
    assert code == 0
    assert demo < nodes  # stacks/demo and what only stacks/tools holds


# --- what stays as it was -----------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["plan", "stacks/a", "--bogus", "stacks/b"], "stackbuild: error: unrecognized arguments: --bogus"),
    (["promote", "a.json", "stacks", "--bogus"], "stackbuild: error: unrecognized arguments: --bogus"),
    (["diff", "v1", "--format", "json"],
     "stackbuild diff: error: the following arguments are required: ref2"),
    (["history", "stacks/a", "--limit", "3"], "stackbuild: error: unrecognized arguments: stacks/a"),
    (["export", "stacks/a", "--out", "x"],
     "stackbuild export: error: argument kind: invalid choice: 'stacks/a'"),
    (["build", "stacks/a", "--keep-going", "stacks/b", "--fail-fast"],
     "stackbuild build: error: argument --fail-fast: not allowed with argument --keep-going"),
    (["build", "stacks/a", "--jobs", "0", "stacks/b"],
     "stackbuild build: error: argument --jobs/-j: must be at least 1"),
    (["explain", "stacks/a"], "stackbuild explain: error: the following arguments are required: --node"),
    (["frobnicate", "--offline"], "stackbuild: error: argument command: invalid choice: 'frobnicate'"),
])
def test_a_usage_error_is_exit_2_with_argparse_message(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(argv, capsys)
    assert err.startswith("usage: stackbuild")
    assert err.splitlines()[-1].startswith(message)


@pytest.mark.parametrize(("argv", "expected"), [
    (["plan", "stacks/a", "--", "--offline"], {"targets": ["stacks/a", "--offline"], "offline": False}),
    (["plan", "--offline", "--", "-odd", "stacks/a"], {"targets": ["-odd", "stacks/a"], "offline": True}),
    (["diff", "v1", "--", "v2", "-odd"], {"ref1": "v1", "ref2": "v2", "targets": ["-odd"]}),
    (["plan", "--", "--offline"], {"targets": ["--offline"], "offline": False}),
    (["diff", "v1", "v2", "--", "--format"],
     {"ref1": "v1", "ref2": "v2", "targets": ["--format"], "format": "table"}),
])
def test_double_dash_ends_the_options(argv: list[str], expected: dict[str, object]) -> None:
    args = cli.parse_checked(argv, {})
    assert {key: getattr(args, key) for key in expected} == expected


def test_a_ref_after_double_dash_is_still_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", "--root", str(tmp_path), "--", "-p", "HEAD"]) == 2
    assert capsys.readouterr().err.startswith("error: the REF1 argument: git ref '-p' starts with '-'")


@pytest.mark.parametrize("argv", [[command, "--help"] for command in COMMANDS] + [
    ["plan", "stacks/a", "--help", "stacks/b"], ["diff", "v1", "-h", "v2"], ["export", "bake", "-h"]])
def test_help_of_each_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    out = capsys.readouterr().out
    assert caught.value.code == 0
    assert out.startswith(f"usage: stackbuild {argv[0]} [-h]")
    assert "options:" in out and "--root ROOT" in out


def test_help_of_the_command_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert caught.value.code == 0
    assert out.startswith("usage: stackbuild [-h] [--version]")
    assert all(command in out for command in COMMANDS)
