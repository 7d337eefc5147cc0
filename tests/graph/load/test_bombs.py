"""The resource bombs and odd paths of issue 16, answered through the CLI within the limits: exit 2 and
one message naming file:line; and --max-nodes raising the node limit."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.cli.main import main
from engine.run import api
from graph.errors import StackError
from graph.load.readfile import read_stack_text

CORPUS = Path(__file__).parent / "corpus"
HEAD = "stack: s\nregistry: localhost:5000/s\n"


def refuse(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """Plan stack s offline: it must exit 2 within 2 CPU seconds; the one stderr line."""
    started = time.process_time()
    assert main(["plan", "--offline", "--root", str(root), "--log-format", "json", "s", *extra]) == 2
    assert time.process_time() - started < 2.0
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


def corpus(root: Path, name: str) -> Path:
    (root / "s").mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(CORPUS / name, root / "s" / "stack.yaml"))


def stack(root: Path, text: str) -> Path:
    (root / "s").mkdir(parents=True, exist_ok=True)
    path = root / "s" / "stack.yaml"
    path.write_text(HEAD + text, encoding="utf-8")
    return path


BOMBS = [
    ("alias-bomb-key.yaml", "error: s/stack.yaml:8: aliases expand to more than 100000 YAML nodes "
     "(repeat anchors less often or less deeply (an alias bomb?))"),
    ("merge-bomb.yaml", "error: s/stack.yaml:16: aliases expand to more than 100000 YAML nodes "
     "(repeat anchors less often or less deeply (an alias bomb?))"),
    ("extends-chain.yaml",
     "error: s/stack.yaml:36: 'extends' chain of node 'n32' is longer than 32 definitions "
     "(let nodes extend a common base instead)"),
    ("huge-int.yaml",
     "error: s/stack.yaml:6: value '9999999999999999999999999999999999999...' cannot be read "
     "as int: Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits "
     "(quote it to keep it as text)"),
    ("matrix-1e6.yaml",
     "error: s/stack.yaml:7: the axes of node 'a' make 1000000 combinations, more than the "
     "limit of 100000 nodes (shrink the matrix, or raise the limit with --max-nodes N)"),
    ("matrix-1e8.yaml",
     "error: s/stack.yaml:7: the axes of node 'a' make 100000000 combinations, more than the "
     "limit of 100000 nodes (shrink the matrix, or raise the limit with --max-nodes N)"),
    ("constraints-times-matrix.yaml",
     "error: s/stack.yaml:4: node 'a' has 2000 constraints and exclude rules to check on 10000 combinations, "
     "more than 2000000 checks (use fewer rules, or a smaller matrix)"),
    ("constraint-arrow-chain.yaml",
     "error: s/stack.yaml:7: constraint \"os == '1' -> os == '1' -> os == '1' -> os == '1' -> os == '1\"... "
     "is nested more than 100 deep ('->', 'not' and parentheses count) (write e.g. sdk == 'cann' and "
     "python >= '3.9' -> arch == 'amd64'; quote values with several dots ('8.0.1'); "
     "-> is allowed only outside parentheses)"),
    ("deep-flow-nesting.yaml", "error: s/stack.yaml:3: lists and mappings are nested more than 64 deep "
     "(flatten the structure: stack files need only a few levels)"),
    ("control-byte.yaml", "error: s/stack.yaml:5: control character U+0007 is not allowed in a stack file "
     "(remove it; write tabs and newlines as they are)"),
    ("invalid-utf8.yaml", "error: s/stack.yaml:5: byte 0xff is not UTF-8 text (save the file as UTF-8)"),
    ("from-newline.yaml",
     "error: s/stack.yaml:6: 'from' 'debian:12\\n2 evil build x' contains '\\n': an image "
     "reference has no spaces, commas or control characters "
     "(see 'Writing a stack' in README.md for the schema)"),
]


@pytest.mark.parametrize(("name", "expected"), BOMBS, ids=[name for name, _ in BOMBS])
def test_bomb_is_refused_quickly_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                               expected: str) -> None:
    corpus(tmp_path, name)
    assert refuse(tmp_path, capsys) == expected


def test_backtracking_tag_template_is_answered_quickly(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    corpus(tmp_path, "template-backtracking.yaml")
    assert refuse(tmp_path, capsys).startswith(
        "error: s/stack.yaml:11: tag 'a" + "1" * 100 + "y' does not follow template:{a}{v0_version}")


def test_from_is_checked_once_its_template_is_filled(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    stack(tmp_path, "nodes:\n  a:\n    kind: os\n    from: '{v}/Debian:12'\n    axes: {v: [x]}\n")
    assert refuse(tmp_path, capsys) == (
        "error: s/stack.yaml:6: 'from' 'x/Debian:12' is not a valid image reference "
        "([host[:port]/]name[:tag][@digest]) (write an image reference such as debian:12)")


# --- the node limit -----------------------------------------------------------------------------

MATRIX_12 = ("nodes:\n  a:\n    kind: os\n    from: 'debian:{x}{y}'\n"
             "    axes: {x: [1, 2, 3], y: [1, 2, 3, 4]}\n")


def test_max_nodes_lowers_the_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack(tmp_path, MATRIX_12)
    assert refuse(tmp_path, capsys, "--max-nodes", "11") == (
        "error: s/stack.yaml:7: the axes of node 'a' make 12 combinations, more than the limit of 11 nodes "
        "(shrink the matrix, or raise the limit with --max-nodes N)")


def test_max_nodes_raises_the_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack(tmp_path, MATRIX_12)
    assert main(["plan", "--offline", "--root", str(tmp_path), "--log-format", "json", "s",
                 "--max-nodes", "12"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "12 nodes: 12 external"


def test_the_default_limit_is_ten_to_the_fifth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    axes = ", ".join(f"x{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" for i in range(5))  # 10^5: just allowed
    stack(tmp_path, "nodes:\n  a:\n    kind: os\n    from: 'debian:{x0}'\n"
          "    axes: {" + axes + ", y: [0, 1]}\n")
    assert refuse(tmp_path, capsys) == (
        "error: s/stack.yaml:7: the axes of node 'a' make 200000 combinations, more than the limit of 100000 "
        "nodes (shrink the matrix, or raise the limit with --max-nodes N)")


def test_max_nodes_counts_the_parents_nodes_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack(tmp_path, MATRIX_12 + "  b:\n    kind: sdk\n    parent: a\n    dockerfile: stack.yaml\n"
          "    tag: '{x}{y}{z}'\n    axes: {z: [1, 2]}\n")
    assert refuse(tmp_path, capsys, "--max-nodes", "30") == (
        "error: s/stack.yaml:8: node 'b' could bring the stacks to 36 nodes (12 parent node(s) × 2 "
        "combination(s)), more than the limit of 30 "
        "(shrink the matrix, or raise the limit with --max-nodes N)")


def test_max_nodes_must_be_a_positive_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["plan", "--offline", "--root", str(tmp_path), "s", "--max-nodes", "0"])
    assert caught.value.code == 2
    assert "argument --max-nodes: must be at least 1" in capsys.readouterr().err


def test_more_than_ten_thousand_nodes_are_loaded_with_a_warning(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    axes = ", ".join(f"x{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" for i in range(4))
    stack(tmp_path, "nodes:\n  a:\n    kind: os\n    from: 'debian:{x0}'\n"
          "    axes: {" + axes + "}\n    include: [{x0: a, x1: b, x2: c, x3: d}]\n")
    warnings: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(api, "log", SimpleNamespace(warning=lambda event, **kw: warnings.append((event, kw))))
    graph = api.load(api.Options(root=tmp_path, targets=(Path("s"),)))
    assert len(graph.nodes) == 10_001
    assert warnings == [("large_graph",
                         {"node": "*", "nodes": 10_001, "warn_above": 10_000, "max_nodes": 100_000})]


# --- odd paths ----------------------------------------------------------------------------------


def read_error(path: Path) -> str:
    with pytest.raises(StackError) as caught:
        read_stack_text(path, "s/stack.yaml")
    return str(caught.value)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    assert read_error(tmp_path / "fifo") == ("s/stack.yaml:1: a FIFO is not a stack file "
                                             "(name a readable stack.yaml file)")


def test_a_folder_is_refused(tmp_path: Path) -> None:
    assert read_error(tmp_path) == ("s/stack.yaml:1: a folder is not a stack file "
                                    "(name a readable stack.yaml file)")


def test_a_device_is_refused(tmp_path: Path) -> None:
    assert read_error(Path("/dev/zero")) == ("s/stack.yaml:1: a device or socket is not a stack file "
                                             "(name a readable stack.yaml file)")


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert read_error(tmp_path / "a") == ("s/stack.yaml:1: cannot read stack file: Too many levels of "
                                          "symbolic links (name a readable stack.yaml file)")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text("stack: s\n")
    path.chmod(0)
    assert read_error(path) == "s/stack.yaml:1: cannot read stack file: Permission denied " \
                               "(name a readable stack.yaml file)"


def test_a_non_utf8_folder_name_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/st\xffck"))
    folder.mkdir()
    (folder / "stack.yaml").write_text(HEAD + "nodes: {a: {kind: os, from: 'debian:12'}}\n")
    assert main(["plan", "--offline", "--root", str(tmp_path), "--log-format", "json", folder.name]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 nodes: 1 external"


def test_a_dockerfile_through_a_symlink_loop_is_refused(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    stack(tmp_path, "nodes:\n  a:\n    kind: os\n    tag: '1'\n    dockerfile: loop/Dockerfile\n")
    (tmp_path / "s" / "loop").symlink_to(tmp_path / "s" / "loop")
    assert refuse(tmp_path, capsys).startswith("error: s/stack.yaml:7: ")


def test_many_definitions_load_in_linear_time(tmp_path: Path) -> None:
    # 6000 definitions: looking each up among all (as before) took about 10 s, now well under 2
    body = "".join(f"  n{i}:\n    kind: os\n    from: 'debian:{i}'\n    test: {'x ' * 20}\n"
                   for i in range(6_000))
    stack(tmp_path, "nodes:\n" + body)
    assert (tmp_path / "s" / "stack.yaml").stat().st_size > 500_000
    started = time.process_time()
    graph = api.load(api.Options(root=tmp_path, targets=(Path("s"),)))
    assert len(graph.nodes) == 6_000
    assert time.process_time() - started < 2.0


@pytest.mark.parametrize("where", ["# a comment \u202e }]{ \n", "test: ['echo', 'a\u2066b']\n",
                                   "x: \u200f\n"])
def test_a_bidirectional_control_character_is_refused_anywhere_at_its_line(tmp_path: Path,
                                                                           where: str) -> None:
    (tmp_path / "stack.yaml").write_text("nodes: {}\n" + where, encoding="utf-8")
    bidi = next(char for char in where if char in "\u202e\u2066\u200f")
    assert read_error(tmp_path / "stack.yaml") == (
        f"s/stack.yaml:2: bidirectional control character U+{ord(bidi):04X} is not allowed in a stack file "
        "(remove it: it reorders the text around it)")


@pytest.mark.parametrize(("text", "expected"), [
    ("nodes: {}\n# \u202e\nx: \x07\n", "s/stack.yaml:2: bidirectional control character U+202E"),
    ("nodes: {}\nx: \x07\n# \u202e\n", "s/stack.yaml:2: control character U+0007"),
])
def test_the_first_refused_character_in_the_file_is_named(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "stack.yaml").write_text(text, encoding="utf-8")
    assert read_error(tmp_path / "stack.yaml").startswith(expected)
