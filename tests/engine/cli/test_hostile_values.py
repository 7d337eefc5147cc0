"""cli: hostile flag, argument and environment values are refused where they enter, with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main as cli
from tests.engine.cli.clifakes import DEMO_CA
from tests.engine.engine_fakes import write_stack

ROOT = Path(__file__).resolve().parents[3]
SMUGGLED = "localhost:5000/x,10.9.9.9:5000/y"


def plan(*args: str) -> int:
    return cli.main(["plan", "stacks/demo", "--root", str(ROOT), "--log-format", "json", "--offline",
                     *DEMO_CA, *args])


def error_of(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.out == ""
    return captured.err


# --- the registry prefix ------------------------------------------------------------------------


def test_a_comma_in_stackbuild_registry_is_refused_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STACKBUILD_REGISTRY", SMUGGLED)
    assert plan() == 2
    assert error_of(capsys) == (
        f"error: environment variable STACKBUILD_REGISTRY: registry '{SMUGGLED}' contains ',' (one registry "
        "prefix only; buildx splits on ',') (give one registry prefix, e.g. localhost:5000/demo)\n")


def test_the_flag_wins_over_the_environment_and_is_named(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STACKBUILD_REGISTRY", "localhost:5000/fine")
    assert plan("--registry", SMUGGLED) == 2
    assert error_of(capsys).startswith(f"error: --registry: registry '{SMUGGLED}' contains ','")


@pytest.mark.parametrize(("value", "problem"), [
    ("https://ghcr.io/org", "registry 'https://ghcr.io/org' has a scheme: give host[:port][/path] without "
                            "https://"),
    ("localhost:5000/Team", "registry 'localhost:5000/Team': the path after the host must be lower case"),
    ("localhost:5000 /x", "registry 'localhost:5000 /x' contains white space"),
    ("localhost:5000/x\x1b[2J", "'localhost:5000/x\\x1b[2J' contains the control character U+001B"),
    ("localhost:5000/x\u202e", "'localhost:5000/x\\u202e' contains the control character U+202E"),
    ("r/" + "a" * 200, "registry prefix is 202 characters long (at most 200)"),
    ("localhost:5000/", "registry 'localhost:5000/' must look like host[:port][/path] "
                        "(e.g. localhost:5000/demo)"),
])
def test_a_bad_registry_flag_is_refused(value: str, problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--registry", value) == 2
    assert error_of(capsys).startswith(f"error: --registry: {problem} (")


def test_a_registry_prefix_with_an_upper_case_host_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--registry", "Registry.Example.com:5000/team") == 0
    assert "Registry.Example.com:5000/team/" in capsys.readouterr().out


def test_an_empty_registry_variable_means_no_override(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STACKBUILD_REGISTRY", "")
    assert plan() == 0
    assert "localhost:5000/stackbuild/debian:12" in capsys.readouterr().out


# --- git refs, paths, patterns and names --------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["plan", "--changed-since=--output=/tmp/owned"],
    ["build", "--changed-since=-p"],
    ["graph", "--changed-since=-c"],
    ["diff", "--", "-p", "HEAD"],
])
def test_a_git_ref_that_looks_like_an_option_is_refused(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--root", str(tmp_path)]) == 2
    err = error_of(capsys)
    assert "starts with '-' (git would read it as an option) (name a commit, branch or tag)" in err
    assert err.startswith(("error: --changed-since: git ref '-", "error: the REF1 argument: git ref '-"))


@pytest.mark.parametrize(("argv", "where"), [
    (["plan", "--changed-since", "main\n"], "--changed-since"),
    (["explain", "--node", "numpy\x1b[2J"], "--node"),
    (["graph", "--select", "num*", "--select", "x\x07"], "--select"),
    (["history", "--run", "r\x00"], "--run"),
    (["lint", "--convention", "oe\r"], "--convention"),
    (["images", "--framework", "\x9bnumpy"], "--framework"),
    (["plan", "stacks/\x1bdemo"], "a stack file argument"),
    (["promote", "lock\x7f.json"], "the LOCKFILE argument"),
    (["plan", "--state-dir", "st\tate"], "--state-dir"),
])
def test_a_control_character_in_any_value_is_refused(
        argv: list[str], where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--root", str(tmp_path)]) == 2
    err = error_of(capsys)
    assert err.startswith(f"error: {where}: '")
    assert "contains the control character U+" in err
    assert err.endswith("(remove the control characters)\n")
    assert not (tmp_path / ".state").exists()


def test_a_control_character_in_stackbuild_state_is_refused_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STACKBUILD_STATE", "state\n")
    assert cli.main(["history", "--root", str(tmp_path)]) == 2
    assert error_of(capsys) == ("error: environment variable STACKBUILD_STATE: 'state\\n' contains the "
                                "control character U+000A (remove the control characters)\n")


def test_an_empty_state_dir_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["history", "--root", str(tmp_path), "--state-dir", ""]) == 2
    assert error_of(capsys) == "error: --state-dir: the value is empty (name a folder, e.g. .state)\n"


def test_a_comma_in_the_cache_dir_is_refused_before_the_engine_is_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "cache,type=registry"
    assert cli.main(["build", "--root", str(tmp_path), "--cache", "local", "--cache-dir", str(folder)]) == 2
    assert error_of(capsys) == (f"error: --cache-dir: '{folder}' contains ',' (buildx reads it as a "
                                "separator) (choose a folder whose path has no ',')\n")


# --- outputs ------------------------------------------------------------------------------------


def test_export_bake_out_naming_a_folder_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path)
    (tmp_path / "build").mkdir()
    assert cli.main(["export", "bake", "--root", str(tmp_path), "--out", "build"]) == 2
    assert error_of(capsys) == (f"error: --out: {tmp_path}/build is a folder "
                                "(name a file, e.g. build/docker-bake.json)\n")
    assert list((tmp_path / "build").iterdir()) == []


def test_graph_out_naming_a_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["graph", "--root", str(tmp_path), "--out", str(tmp_path), "--format", "dot"]) == 2
    assert error_of(capsys) == (f"error: --out: {tmp_path} is a folder "
                                "(name a file, e.g. build/docker-bake.json)\n")


@pytest.mark.parametrize("outside", ["relative", "absolute"])
def test_export_meta_out_outside_the_repository_writes_a_self_contained_tree(
        outside: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "repo"
    write_stack(root)
    out = "../elsewhere" if outside == "relative" else str(tmp_path / "elsewhere")
    assert cli.main(["export", "meta", "--root", str(root), "--out", out]) == 0
    target = tmp_path / "elsewhere"
    meta = (target / "t" / "leaf" / "meta.yml").read_text(encoding="utf-8")
    assert meta == "'3':\n  path: 3/any/Dockerfile\n"
    assert (target / "t" / "leaf" / "3" / "any" / "Dockerfile").read_text(encoding="utf-8") == (
        "FROM scratch\nLABEL node=leaf\n")
    assert f"wrote {target}/t/leaf/meta.yml (1 tags)" in capsys.readouterr().out.splitlines()


def test_export_meta_out_inside_a_build_context_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path)
    assert cli.main(["export", "meta", "--root", str(tmp_path), "--out", "stacks/t/mid/meta"]) == 2
    assert error_of(capsys) == (f"error: --out: {tmp_path}/stacks/t/mid/meta lies inside the build context "
                                f"{tmp_path}/stacks/t/mid of node mid "
                                "(name a folder outside every build context, e.g. build/meta)\n")
    assert not (tmp_path / "stacks" / "t" / "mid" / "meta").exists()


def test_export_meta_out_below_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path)
    (tmp_path / "meta").write_text("keep", encoding="utf-8")
    assert cli.main(["export", "meta", "--root", str(tmp_path), "--out", "meta/x"]) == 2
    assert error_of(capsys) == (f"error: --out: {tmp_path}/meta/x lies below a file "
                                "(name a folder in a folder)\n")


def test_export_meta_out_naming_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path)
    (tmp_path / "meta").write_text("keep", encoding="utf-8")
    assert cli.main(["export", "meta", "--root", str(tmp_path), "--out", "meta"]) == 2
    assert error_of(capsys) == f"error: --out: {tmp_path}/meta is a file (name a folder, e.g. build/meta)\n"
    assert (tmp_path / "meta").read_text(encoding="utf-8") == "keep"


# --- lint --tags --------------------------------------------------------------------------------

HINT = "(name a UTF-8 text file with one tag a line)"


def lint_tags(root: Path, tags: Path) -> int:
    write_stack(root)
    return cli.main(["lint", "--root", str(root), "--convention", "openeuler", "--tags", str(tags)])


def test_lint_tags_on_a_missing_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tags = tmp_path / "nope.txt"
    assert lint_tags(tmp_path, tags) == 2
    assert error_of(capsys) == f"error: --tags: cannot read {tags}: No such file or directory {HINT}\n"


def test_lint_tags_on_a_non_utf8_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tags = tmp_path / "tags.txt"
    tags.write_bytes(b"1.0-oe2203sp2\n\xff\xfe\n")
    assert lint_tags(tmp_path, tags) == 2
    assert error_of(capsys) == f"error: --tags: {tags} is not UTF-8 text (byte 14) {HINT}\n"


def test_lint_tags_on_a_folder_or_device_is_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lint_tags(tmp_path, tmp_path) == 2
    assert error_of(capsys) == (f"error: --tags: cannot read {tmp_path}: it is a folder, not a regular file "
                                f"{HINT}\n")
    assert lint_tags(tmp_path, Path("/dev/zero")) == 2
    assert error_of(capsys) == ("error: --tags: cannot read /dev/zero: it is a device, not a regular file "
                                f"{HINT}\n")


def test_lint_tags_with_an_escape_sequence_names_the_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tags = tmp_path / "tags.txt"
    tags.write_text("1.0-oe2203sp2\n\x1b]0;owned\x07\n", encoding="utf-8")
    assert lint_tags(tmp_path, tags) == 2
    assert error_of(capsys) == (f"error: --tags: {tags}:2: '\\x1b]0;owned\\x07' contains the control "
                                f"character U+001B {HINT}\n")


def test_an_out_file_below_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(tmp_path)
    (tmp_path / "build").write_text("keep", encoding="utf-8")
    assert cli.main(["export", "bake", "--root", str(tmp_path), "--out", "build/docker-bake.hcl"]) == 2
    assert error_of(capsys) == (f"error: --out: {tmp_path}/build/docker-bake.hcl lies below a file "
                                "(name a file in a folder)\n")
    assert (tmp_path / "build").read_text(encoding="utf-8") == "keep"
