"""openEuler's published tag scheme: the real published tags, and stacks/openeuler under both conventions."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from engine.cli import main as cli
from graph.errors import StackError
from graph.expand.assemble import load_graph
from graph.present.lint import listed_tags
from graph.tags.conventions import CONVENTIONS, get_convention
from graph.tags.model import TagInfo

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
PUBLISHED = DATA / "openeuler-published-tags.csv"
SWITCH = "tags: oeep14  # or: openeuler (openEuler's published scheme)"
SOURCE = re.compile(r"openeuler-mirror/openeuler-docker-images@[0-9a-f]{40}:AI/[a-z0-9/_-]+/meta\.yml")


def table(path: Path) -> list[dict[str, str]]:
    """A CSV table, its '#' comment lines skipped."""
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


PUBLISHED_ROWS = table(PUBLISHED)


def fields(row: dict[str, str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in row["fields"].split())


def test_the_fixture_holds_every_ai_family_with_its_source() -> None:
    assert len(PUBLISHED_ROWS) >= 250
    repositories = {row["repository"] for row in PUBLISHED_ROWS}
    assert {"cann", "cuda", "pytorch", "mindspore", "llm", "vllm-ascend", "executorch"} <= repositories
    assert all(SOURCE.fullmatch(row["source"]) for row in PUBLISHED_ROWS)
    assert len({(row["repository"], row["tag"]) for row in PUBLISHED_ROWS}) == len(PUBLISHED_ROWS)


@pytest.mark.parametrize("row", PUBLISHED_ROWS, ids=lambda row: f"{row['repository']}:{row['tag']}")
def test_a_published_tag_parses_to_its_fields_and_regenerates(row: dict[str, str]) -> None:
    convention = get_convention("openeuler")
    expected = TagInfo(row["kind"], fields(row))
    assert convention.parse(row["tag"], row["kind"]) == expected
    assert convention.generate(row["kind"], fields(row), False) == row["tag"]
    assert convention.generate(row["kind"], fields(row), True) == row["tag"] + "-dev"


def test_untyped_published_tags_of_the_ai_stack_read_as_their_kind() -> None:
    convention = get_convention("openeuler")
    for row in PUBLISHED_ROWS:
        if row["kind"] != "tool":
            assert convention.parse(row["tag"]) == TagInfo(row["kind"], fields(row)), row["tag"]


def test_oeep14_tags_are_not_published_tags() -> None:
    convention = get_convention("openeuler")
    for kind, tag in (("sdk", "cann8.0.RC1-oe2203sp4"), ("framework", "2.2.0-pytorch-cann8.0.RC1-oe2203sp4"),
                      ("sdk", "8.0.RC1-2203sp4"), ("sdk", "8.1.RC1-py3.11-oe2403lts"),
                      ("framework", "2.2.0-python3.10-oe2203sp4")):
        with pytest.raises(StackError, match="does not follow openeuler"):
            convention.parse(tag, kind)


def test_the_tag_switches_choose_the_published_shapes() -> None:
    convention = get_convention("openeuler")
    cann = {"sdk_version": "8.1.RC1", "python": "3.11", "os": "2403lts"}
    assert convention.generate("sdk", cann, False) == "8.1.RC1-oe2403lts"
    assert convention.generate("sdk", {**cann, "tag_python": "no"}, False) == "8.1.RC1-oe2403lts"
    assert convention.generate("sdk", {**cann, "tag_python": "yes"}, False) == "8.1.RC1-python3.11-oe2403lts"
    torch = {"framework": "pytorch", "framework_version": "2.2.0", "sdk": "cann", "sdk_version": "8.0.RC1",
             "os": "2203sp4"}
    assert convention.generate("framework", torch, False) == "2.2.0-cann8.0.RC1-oe2203sp4"
    assert (convention.generate("framework", {**torch, "tag_framework": "yes"}, True)
            == "pytorch2.2.0-cann8.0.RC1-oe2203sp4-dev")


def test_openeuler_is_a_named_convention() -> None:
    assert "openeuler" in CONVENTIONS and get_convention("openeuler").name == "openeuler"


# --- lint --tags ----------------------------------------------------------------------------------


def test_lint_reports_every_published_tag_as_following_the_scheme(
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["lint", "--root", str(ROOT), "stacks/openeuler", "--tags", str(PUBLISHED)]
    assert cli.main([*argv, "--convention", "openeuler"]) == 0
    assert capsys.readouterr().out == "all tags follow their conventions\n"
    # the same list against oeep14 (the stack's own): nearly every row breaks it, each named by its line
    assert cli.main(argv) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{len(out) - 1} tag(s) break their convention" and len(out) - 1 >= 250
    first = next(number for number, line in enumerate(PUBLISHED.read_text().splitlines(), start=1)
                 if line.startswith("caffe,1.0-oe2403sp1,"))
    assert out[0].startswith(f"{PUBLISHED}:{first}: 1.0-oe2403sp1: tag '1.0-oe2403sp1' does not follow")


def test_listed_tags_reads_lines_or_a_csv_tag_column() -> None:
    assert listed_tags("t.txt", "# published\n\n8.0.RC1-oe2203sp4\n  2.2.0-cann8.0.RC1-oe2203sp4 \n") == [
        ("t.txt:3", "8.0.RC1-oe2203sp4"), ("t.txt:4", "2.2.0-cann8.0.RC1-oe2203sp4")]
    text = "# source\nrepository,tag\ncann,8.0.RC1-oe2203sp4\n\nllm,\"a,b\"\n"
    assert listed_tags("t.csv", text) == [("t.csv:3", "8.0.RC1-oe2203sp4"), ("t.csv:5", "a,b")]
    missing = r"t\.csv:1: the table has no 'tag' column \(columns: repository, name\)"
    with pytest.raises(StackError, match=missing):
        listed_tags("t.csv", "repository,name\ncann,x\n")


# --- stacks/openeuler under both conventions ---------------------------------------------------------


def switched(tmp_path: Path, convention: str) -> Path:
    """A copy of stacks/openeuler whose stack.yaml selects convention (by its one tags: line)."""
    shutil.copytree(ROOT / "stacks" / "openeuler", tmp_path / "stacks" / "openeuler")
    stack_file = tmp_path / "stacks" / "openeuler" / "stack.yaml"
    text = stack_file.read_text(encoding="utf-8")
    assert text.count(SWITCH) == 1
    stack_file.write_text(text.replace(SWITCH, f"tags: {convention}"), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("convention", ["oeep14", "openeuler"])
def test_the_stack_plans_and_lints_under_both_conventions(
        convention: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = switched(tmp_path, convention)
    assert cli.main(["plan", "--root", str(root), "stacks/openeuler", "--offline"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("91 nodes: 86 build, 5 external")
    assert cli.main(["lint", "--root", str(root), "stacks/openeuler"]) == 0
    assert capsys.readouterr().out == "all tags follow their conventions\n"
    graph = load_graph(root, (Path("stacks/openeuler"),))
    scheme = get_convention(convention)
    for node in graph.nodes.values():
        if not node.external:
            assert scheme.parse(node.tag, node.kind).dev == (node.variant == "dev"), node.name


def test_under_openeuler_the_stack_publishes_upstreams_tags(tmp_path: Path) -> None:
    graph = load_graph(switched(tmp_path, "openeuler"), (Path("stacks/openeuler"),))
    tags = {(n.image, n.tag) for n in graph.nodes.values() if not n.external and not n.variant}
    reproduced = {(row["image"], row["tag"]) for row in table(DATA / "upstream_tags.csv")}
    assert len(reproduced) == 13 and reproduced <= tags
    published = {(row["repository"], row["tag"]) for row in PUBLISHED_ROWS}
    assert reproduced <= published
    # where the stack and upstream share a tag, it is one of the images upstream_tags.csv lists
    assert tags & published == reproduced


def test_a_csv_tag_list_without_a_tag_column_is_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listed = tmp_path / "published.csv"
    listed.write_text("# upstream\nrepository,name\ncann,8.0.RC1-oe2203sp4\n", encoding="utf-8")
    argv = ["lint", "--root", str(ROOT), "stacks/openeuler", "--tags", str(listed)]
    assert cli.main([*argv, "--convention", "openeuler"]) == 2
    assert capsys.readouterr().err == (
        f"error: {listed}:2: the table has no 'tag' column (columns: repository, name) "
        "(start a .csv tag list with a header line naming a 'tag' column)\n")
