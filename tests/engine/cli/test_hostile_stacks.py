"""cli: hostile stack files are refused with exit 2 and one `file:line: what (how to fix)` line, and leave
nothing written (no engine needed: plan --offline and export meta only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.cli.main import main

HEAD = "stack: s\nregistry: localhost:5000/s\nnodes:\n  a:\n    kind: os\n    dockerfile: Dockerfile\n"
MESSAGE_RE = re.compile(r"error: s/stack\.yaml:[0-9]+: [^\n]+ \([^\n]+\)\n")


def write(root: Path, text: str) -> Path:
    """root/s/stack.yaml holding text, beside a Dockerfile that takes a build arg A."""
    (root / "s").mkdir(parents=True, exist_ok=True)
    (root / "s" / "Dockerfile").write_text("FROM scratch\nARG A\n", encoding="utf-8")
    path = root / "s" / "stack.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI: it must exit 2 with one located message and print nothing; the message."""
    assert main(list(argv)) == 2
    captured = capsys.readouterr()
    assert MESSAGE_RE.fullmatch(captured.err), captured.err
    assert captured.out == ""
    return captured.err


def export_meta(root: Path, out: Path) -> tuple[str, ...]:
    return ("export", "--root", str(root), "--log-format", "json", "--out", str(out), "meta", "s")


def plan(root: Path) -> tuple[str, ...]:
    return ("plan", "--offline", "--root", str(root), "--log-format", "json", "s")


def test_export_meta_refuses_a_release_that_climbs_out_of_the_output_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the Dockerfile and every context file were written to tmp_path/victim (any path)."""
    root = tmp_path / "repo"
    write(root, HEAD + "    tag: '1'\n    attrs: {os_release: ../../../../victim}\n")
    err = refused(capsys, *export_meta(root, tmp_path / "out" / "meta"))
    assert err.startswith("error: s/stack.yaml:4: node a: attr os_release '../../../../victim' cannot name")
    assert not (tmp_path / "victim").exists()
    assert not (tmp_path / "out").exists()


def test_export_meta_refuses_an_attr_on_several_lines_that_a_build_arg_uses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the exported Dockerfile read `ARG A="1` then `RUN touch /pwned`, an instruction of its own."""
    root = tmp_path / "repo"
    write(root, HEAD + "    tag: '1'\n    attrs:\n      x: |\n        1\n        RUN touch /pwned\n"
                       "    args: {A: '{x}'}\n")
    err = refused(capsys, *export_meta(root, tmp_path / "out"))
    assert err.startswith("error: s/stack.yaml:9: attrs.x: '1\\nRUN touch /pwned\\n' contains the control "
                          "character U+000A")
    assert not (tmp_path / "out").exists()


def test_plan_refuses_a_build_arg_holding_an_escaped_terminal_sequence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, HEAD + "    tag: '1'\n    args: {A: \"x\\e]0;owned\\ay\"}\n")
    assert refused(capsys, *plan(tmp_path)) == (
        "error: s/stack.yaml:8: control character U+001B is not allowed in a stack file value "
        "(remove the escape; write tabs and newlines as they are)\n")


def test_plan_refuses_a_stack_file_that_links_outside_the_repository(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = write(tmp_path / "outside", HEAD + "    tag: '1'\n")
    root = tmp_path / "repo"
    (root / "s").mkdir(parents=True)
    (root / "s" / "stack.yaml").symlink_to(outside)
    assert refused(capsys, *plan(root)) == (
        f"error: s/stack.yaml:1: stack file is a symlink to {outside.resolve()}, outside the repository "
        "(keep stack files inside the repository: copy the file instead of linking it)\n")


def test_plan_refuses_an_attr_name_a_constraint_would_read_as_another(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: `ｘ == '2'` tested the axis x (Python reads names NFKC), so node a-1 was silently dropped."""
    write(tmp_path, HEAD + "    tag: 'v{x}-{ｘ}'\n    axes: {x: ['1', '2']}\n    attrs: {ｘ: '2'}\n"
                           "    constraints: [\"ｘ == '2'\"]\n")
    assert refused(capsys, *plan(tmp_path)).startswith("error: s/stack.yaml:9: attribute name 'ｘ' must be")
