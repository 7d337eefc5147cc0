"""`stackbuild lint`: a tag out of its convention's order is a warning naming the canonical tag (exit 0);
a tag that breaks the convention is an error (exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main as cli
from tests.engine.engine_fakes import write_stack

SEED = "chatglm6b-cann7.0.RC1.alpha002-pytorch2.1.0-oe2203sp2"
CANONICAL = "chatglm6b-pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2"


def lint(root: Path, lines: list[str], *args: str) -> int:
    write_stack(root)
    tags = root / "tags.txt"
    tags.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return cli.main(["lint", "--root", str(root), "--tags", str(tags), *args])


def test_an_out_of_order_tag_is_a_warning_with_the_canonical_tag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lint(tmp_path, [CANONICAL, SEED], "--convention", "oeep14") == 0
    captured = capsys.readouterr()
    assert captured.out == (
        f"{tmp_path}/tags.txt:2: {SEED}: warning: its fields are not in oeep14's order: "
        f"the canonical tag is {CANONICAL}\n"
        "all tags follow their conventions, 1 out of order (warnings)\n")
    assert captured.err == ""


def test_errors_and_warnings_together_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lint(tmp_path, [SEED, "pytorch2.1.0-oe2203sp2"], "--convention", "oeep14") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{tmp_path}/tags.txt:1: {SEED}: warning: ")
    assert out[1].startswith(f"{tmp_path}/tags.txt:2: pytorch2.1.0-oe2203sp2: tag 'pytorch2.1.0-oe2203sp2' "
                             "does not follow oeep14")
    assert out[2] == "1 tag(s) break their convention, 1 out of order (warnings)"


def test_pai_tags_of_every_shape_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tags = ["2.3-cpu-py36-ubuntu18.04", "2.1-py310-cu121-ubuntu22.04", "2.13-py310-cpu-ubuntu22.04",
            "1.15-mkl-cpu-py36-ubuntu18.04", "1.12-gpu-py36-ubuntu18.04"]
    assert lint(tmp_path, tags, "--convention", "pai") == 0
    assert capsys.readouterr().out == "all tags follow their conventions\n"
