"""pool: the builder pool configuration, from a YAML file or [tool.stackbuild.builders], checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.build import pool
from engine.build.pool import Pool, PoolBuilder, PoolError, missing_platforms, parse_pool, read_pool_file

TWO = {"linux/amd64": [{"name": "default", "capacity": 2}], "linux/arm64": ["arm-1", {"name": "arm-2"}]}


def test_a_pool_keeps_platforms_builders_and_capacities_in_order() -> None:
    pool = parse_pool(TWO, "here")
    assert pool.builders("linux/amd64") == (PoolBuilder("default", 2),)
    assert pool.builders("linux/arm64") == (PoolBuilder("arm-1", 1), PoolBuilder("arm-2", 1))
    assert pool.builders("linux/s390x") == ()
    assert pool.is_multi
    assert missing_platforms(pool, {"linux/amd64", "linux/s390x", "linux/ppc64le"}) == [
        "linux/ppc64le", "linux/s390x"]


def test_one_builder_for_every_platform_is_not_a_multi_builder_pool() -> None:
    pool = parse_pool({"linux/amd64": ["default"], "linux/arm64": ["default"]}, "here")
    assert not pool.is_multi


@pytest.mark.parametrize(("table", "message"), [
    ([], "builders must map platforms to lists of builders"),
    ({}, "builders must map platforms to lists of builders"),
    ({"amd64": ["default"]}, "platform 'amd64'"),
    ({"linux/amd64": []}, "builders.linux/amd64 must be a non-empty list"),
    ({"linux/amd64": "default"}, "builders.linux/amd64 must be a non-empty list"),
    ({"linux/amd64": [{"name": "a b"}]}, "builders.linux/amd64[0]: builder name 'a b' is not valid"),
    ({"linux/amd64": [{"name": "-x"}]}, "builder name '-x' is not valid"),
    ({"linux/amd64": [{"name": "a", "capacity": 0}]}, "builder a: capacity 0 is not valid"),
    ({"linux/amd64": [{"name": "a", "capacity": True}]}, "capacity True is not valid"),
    ({"linux/amd64": [{"name": "a", "capacity": "2"}]}, "capacity '2' is not valid"),
    ({"linux/amd64": [{"name": "a", "cpus": 2}]}, "is not a builder"),
    ({"linux/amd64": ["a", "a"]}, "lists a builder twice"),
    ({"linux/amd64": [{"name": "a", "capacity": 2}], "linux/arm64": ["a"]}, "builder a has capacity 2 and 1"),
])
def test_a_wrong_pool_is_refused_saying_where_and_what(table: object, message: str) -> None:
    with pytest.raises(PoolError, match=r"^here: ") as caught:
        parse_pool(table, "here")
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_pool_file_has_one_builders_key(tmp_path: Path) -> None:
    good = tmp_path / "pool.yaml"
    good.write_text("builders:\n  linux/amd64: [default]\n  linux/arm64: [{name: arm, capacity: 3}]\n")
    assert read_pool_file(good) == Pool((("linux/amd64", (PoolBuilder("default"),)),
                                         ("linux/arm64", (PoolBuilder("arm", 3),))))
    bad = tmp_path / "bad.yaml"
    bad.write_text("builder:\n  linux/amd64: [default]\n")
    with pytest.raises(PoolError, match="exactly one top-level key, builders"):
        read_pool_file(bad)
    with pytest.raises(PoolError, match="cannot read the builder pool"):
        read_pool_file(tmp_path / "absent.yaml")
    bad.write_text("builders: [\n")
    with pytest.raises(PoolError, match="cannot read the builder pool"):
        read_pool_file(bad)


def test_a_pool_file_above_the_limit_is_refused_not_parsed_cut_short(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "pool.yaml"
    big.write_text("builders:\n  linux/amd64: [default]\n# " + "x" * 40 + "\n")  # 79 bytes
    monkeypatch.setattr(pool, "MAX_POOL_FILE_BYTES", 40)  # what fits would parse: the comment is cut
    with pytest.raises(PoolError, match=r"pool\.yaml: a builder pool file is larger than"):
        read_pool_file(big)
    monkeypatch.setattr(pool, "MAX_POOL_FILE_BYTES", 79)
    assert read_pool_file(big) == Pool((("linux/amd64", (PoolBuilder("default"),)),))


@pytest.mark.timeout(10)  # before the fix, opening the FIFO waited for a writer forever
def test_a_pool_file_that_is_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "pool.yaml"
    os.mkfifo(fifo)
    with pytest.raises(PoolError, match=r"pool\.yaml: cannot read the builder pool: it is a FIFO"):
        read_pool_file(fifo)


def test_a_deeply_nested_pool_file_is_a_pool_error(tmp_path: Path) -> None:
    deep = tmp_path / "pool.yaml"
    deep.write_text("builders: " + "[" * 100_000)
    with pytest.raises(PoolError, match=r"pool\.yaml: cannot read the builder pool: nested too deeply"):
        read_pool_file(deep)
