"""The builder pool of a build: --builders FILE, else [tool.stackbuild.builders], else none."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from engine.build.pool import PoolBuilder, PoolError
from engine.cli.config import pool_of, read_config
from engine.cli.main import main


def args_of(root: Path, builders: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(root=str(root), builders=builders)


def test_the_pool_comes_from_the_flag_else_the_project_table_else_none(tmp_path: Path) -> None:
    assert pool_of(args_of(tmp_path)) is None
    (tmp_path / "pyproject.toml").write_text(
        '[tool.stackbuild]\njobs = 2\n[tool.stackbuild.builders]\n"linux/amd64" = ["default"]\n'
        '"linux/arm64" = [{name = "arm-1", capacity = 2}]\n')
    table_pool = pool_of(args_of(tmp_path))
    assert table_pool is not None and table_pool.builders("linux/arm64") == (PoolBuilder("arm-1", 2),)
    flag = tmp_path / "pool.yaml"
    flag.write_text("builders:\n  linux/amd64: [other]\n")
    flag_pool = pool_of(args_of(tmp_path, str(flag)))
    assert flag_pool is not None and flag_pool.builders("linux/amd64") == (PoolBuilder("other"),)


def test_a_wrong_project_pool_fails_reading_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.stackbuild.builders]\n"linux/amd64" = []\n')
    with pytest.raises(PoolError, match=r"pyproject.toml: \[tool.stackbuild\]: builders.linux/amd64 must"):
        read_config(tmp_path)


def test_build_with_a_wrong_pool_file_exits_2_naming_it(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    pool = tmp_path / "pool.yaml"
    pool.write_text("builders:\n  linux/arm64: [{name: arm, capacity: 0}]\n")
    assert main(["build", "--root", str(tmp_path), "--builders", str(pool)]) == 2
    err = capsys.readouterr().err
    assert f"{pool}: builders.linux/arm64[0]: builder arm: capacity 0 is not valid" in err
