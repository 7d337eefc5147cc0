"""cli: argv in, exit code out; bad input is a one-line message, never a traceback."""

from __future__ import annotations

import json
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from engine import api, cli

ROOT = Path(__file__).resolve().parents[2]
MIRROR = "mirror.example:5000/ci"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No environment defaults; logging configured by main() is undone afterwards."""
    monkeypatch.delenv("STACKBUILD_REGISTRY", raising=False)
    monkeypatch.delenv("STACKBUILD_STATE", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def demo_names() -> list[str]:
    return [e.node for e in api.plan(api.Options(root=ROOT, targets=(Path("stacks/demo"),)))]


def plan(*args: str) -> int:
    return cli.main(["plan", "stacks/demo", "--root", str(ROOT), "--log-format", "json", *args])


# --- bad input ----------------------------------------------------------------------------------

HEAD = """\
        stack: bad
        registry: localhost:5000/x
        nodes:
          a:
            kind: os
            tag: "1"
"""

BAD_STACKS = {  # text, expected line (0: any), expected message
    "unknown kind": ("""\
        stack: bad
        registry: localhost:5000/x
        nodes:
          a:
            kind: banana
            tag: "1"
        """, 5, "unknown kind 'banana'"),
    "unknown parent": (HEAD + """\
          b:
            kind: sdk
            parent: nope
            dockerfile: a/Dockerfile
            tag: "2"
        """, 7, "parent 'nope' is not defined"),
    "missing dockerfile": (HEAD + """\
          b:
            kind: os
            dockerfile: missing/Dockerfile
            tag: "2"
        """, 9, "does not exist"),
    "invalid yaml": ("""\
        stack: bad
        registry: localhost:5000/x
        nodes:
          a: {kind: os, tag: "1"
          b: 2
        """, 5, "invalid YAML"),
    "duplicate key": (HEAD + """\
          a:
            kind: os
            tag: "2"
        """, 7, "duplicate key 'a'"),
    "cycle": ("""\
        stack: bad
        registry: localhost:5000/x
        nodes:
          a: {kind: os, parent: b, tag: "1"}
          b: {kind: os, parent: a, dockerfile: a/Dockerfile, tag: "2"}
        """, 0, "parent cycle"),
}


def write_bad_stack(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "stacks" / "bad"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    stack_file = folder / "stack.yaml"
    stack_file.write_text(textwrap.dedent(text), encoding="utf-8")
    return stack_file


@pytest.mark.parametrize("case", BAD_STACKS)
def test_bad_stack_is_exit_2_with_file_line_and_no_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    text, line, message = BAD_STACKS[case]
    write_bad_stack(tmp_path, text)
    code = cli.main(["plan", "--root", str(tmp_path), "--log-format", "json"])
    out, err = capsys.readouterr()
    assert code == 2 == cli.EXIT_BAD_INPUT
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    if line:
        assert err.startswith(f"error: stacks/bad/stack.yaml:{line}: "), err
    else:  # the line of whichever node the cycle is reported at
        assert err.startswith("error: stacks/bad/stack.yaml:"), err
        assert err.split(":")[2].strip().isdigit(), err
    assert message in err


def test_bad_stack_named_explicitly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, line, message = BAD_STACKS["unknown kind"]
    write_bad_stack(tmp_path, text)
    code = cli.main(["plan", "stacks/bad/stack.yaml", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: stacks/bad/stack.yaml:{line}: {message}")
    assert "Traceback" not in err


def test_no_stack_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["plan", "--root", str(tmp_path), "--log-format", "json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("error: no stack at stacks")
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["build", "--jobs", "0"],
    ["build", "--jobs", "many"],
    ["build", "--keep-going", "--fail-fast"],
    ["plan", "--format", "yaml"],
])
def test_bad_arguments_exit_2_before_doing_anything(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


# --- plan ---------------------------------------------------------------------------------------


def test_plan_json_lists_every_node_in_build_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data["nodes"], list)
    assert [entry["node"] for entry in data["nodes"]] == demo_names()
    for entry in data["nodes"]:
        assert set(entry) >= {"node", "stack", "kind", "ref", "parent", "platforms", "action",
                              "reason"}
        assert entry["action"] == "build"
        assert isinstance(entry["platforms"], list)


def test_plan_table_lists_every_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "NODE", "ACTION", "PARENT", "PLATFORMS", "TAG"]
    names = demo_names()
    assert len(lines) == 1 + len(names)
    for index, (name, line) in enumerate(zip(names, lines[1:], strict=True), start=1):
        cells = line.split()
        assert cells[0] == str(index)
        assert cells[1] == name


def test_plan_is_the_default_table_format(capsys: pytest.CaptureFixture[str]) -> None:
    plan()
    default = capsys.readouterr().out
    plan("--format", "table")
    assert capsys.readouterr().out == default


def test_plan_registry_flag_moves_every_ref(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--format", "json", "--registry", MIRROR) == 0
    refs = [entry["ref"] for entry in json.loads(capsys.readouterr().out)["nodes"]]
    assert refs
    assert all(ref.startswith(MIRROR + "/") for ref in refs)


def test_plan_registry_from_environment(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKBUILD_REGISTRY", MIRROR)
    assert plan("--format", "json") == 0
    refs = [entry["ref"] for entry in json.loads(capsys.readouterr().out)["nodes"]]
    assert all(ref.startswith(MIRROR + "/") for ref in refs)


def test_plan_writes_no_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--state-dir", str(tmp_path / "state")) == 0
    assert not (tmp_path / "state").exists()
