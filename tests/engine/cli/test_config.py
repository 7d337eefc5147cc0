"""Project configuration: [tool.stackbuild] in pyproject.toml < environment < flags; bad values exit 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from engine.cli import config
from engine.cli.main import main, parse_checked
from tests.engine.cli.clifakes import DEMO_CA

ROOT = Path(__file__).resolve().parents[3]
STACK = "stack: s\nregistry: localhost:5000/s\nplatforms: [linux/amd64]\nnodes:\n  os: {kind: os, tag: '1'}\n"


def project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "stacks" / "s" / "os").mkdir(parents=True)
    (tmp_path / "stacks" / "s" / "stack.yaml").write_text(STACK, encoding="utf-8")
    (tmp_path / "stacks" / "s" / "os" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(f"[tool.stackbuild]\n{table}", encoding="utf-8")
    return tmp_path


def parsed(*argv: str, env: dict[str, str] | None = None) -> argparse.Namespace:
    return parse_checked(list(argv), env or {})


def test_file_then_environment_then_flag(tmp_path: Path) -> None:
    root = str(project(tmp_path, 'registry = "file.example/x"\njobs = 3\ntargets = ["stacks/s"]\n'))
    args = parsed("build", "--root", root)
    assert (args.registry, args.jobs, args.targets, args.cache) == (
        "file.example/x", 3, ["stacks/s"], "registry")
    env = {"STACKBUILD_REGISTRY": "env.example/y", "STACKBUILD_JOBS": "5"}
    args = parsed("build", "--root", root, env=env)
    assert (args.registry, args.jobs) == ("env.example/y", 5)
    args = parsed("build", "--root", root, "--registry", "flag.example/z", "-j", "7", "stacks",
                  env={"STACKBUILD_REGISTRY": "env.example/y", "STACKBUILD_JOBS": "5"})
    assert (args.registry, args.jobs, args.targets) == ("flag.example/z", 7, ["stacks"])


def test_without_a_file_the_built_in_defaults_hold(tmp_path: Path) -> None:
    args = parsed("build", "--root", str(tmp_path))
    assert (args.registry, args.jobs, args.targets, args.cache, args.state_dir, args.log_format) == (
        "", 2, ["stacks"], "registry", ".state", "auto")


@pytest.mark.parametrize(("table", "message"), [
    ('jobs = 0\n', "[tool.stackbuild] jobs = 0 is not valid (use a whole number of at least 1)"),
    ('cache = "s3"\n', "[tool.stackbuild] cache = 's3' is not valid (use one of inline, registry, "
                       "registry-min, local, none)"),
    ('colour = true\n', "[tool.stackbuild] has an unknown key 'colour' (known keys: targets, registry, "
                        "state-dir, jobs, cache, log-format, builders)"),
    ('targets = "stacks"\n', "targets = 'stacks' is not valid (use a list of stack files or folders)"),
    ('jobs = \n', "cannot read the project configuration"),
])
def test_a_bad_configuration_exits_2_naming_the_file(tmp_path: Path, table: str, message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, table)
    assert main(["plan", "--offline", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {root / 'pyproject.toml'}: ")
    assert message in err


def test_a_configuration_above_the_limit_is_refused_not_read_cut_short(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "jobs = 3\n" + "# padding\n" * 20)
    monkeypatch.setattr(config, "MAX_CONFIG_BYTES", (root / "pyproject.toml").stat().st_size - 1)
    assert main(["plan", "--offline", "--root", str(root)]) == 2
    assert "pyproject.toml: larger than" in capsys.readouterr().err


def test_the_repository_default_targets_plan_on_a_fresh_clone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--offline", "--root", str(ROOT), "--format", "json", *DEMO_CA]) == 0
    nodes = json.loads(capsys.readouterr().out)["nodes"]
    assert {node["stack"] for node in nodes} == {"tools", "demo"}
    assert len(nodes) == 15  # the demo's 13 and the tools stack's base and SBOM generator
    names = [node["node"] for node in nodes]
    assert names.index("sbom-generator") < names.index("debian")  # it scans every demo image


@pytest.mark.parametrize(("document", "message"), [
    ("tool = 5\n", "pyproject.toml: tool must be a table (write the settings under [tool.stackbuild])"),
    ("tool = [1]\n", "pyproject.toml: tool must be a table"),
    ("a = " + "[" * 100_000 + "\n",
     "pyproject.toml: cannot read the project configuration: nested too deeply"),
])
def test_a_malformed_pyproject_exits_2_naming_the_file(tmp_path: Path, document: str, message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "")
    (root / "pyproject.toml").write_text(document, encoding="utf-8")
    assert main(["plan", "--offline", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {root / 'pyproject.toml'}") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["²", "1" * 5000])
def test_a_jobs_variable_that_is_no_plain_number_exits_2_naming_it(
        value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(config.ConfigError, match="environment variable STACKBUILD_JOBS=") as caught:
        parsed("build", "--root", str(tmp_path), env={"STACKBUILD_JOBS": value})
    assert caught.value.exit_code == 2
