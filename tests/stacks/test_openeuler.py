"""stacks/openeuler: its plan, its constraints against Ascend's tables, and its Dockerfiles' cases."""

from __future__ import annotations

import csv
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli import main as cli
from graph.expand.assemble import load_graph
from graph.expand.dag import StackGraph
from graph.model.spec import Node
from graph.plan.entries import make_plan
from graph.tags.conventions import OEEP14

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "stacks" / "openeuler"
DATA = Path(__file__).resolve().parent / "data"
ALPHA = "7.0.RC1.alpha002"
FIELDS = ("sdk_version", "framework_version", "os", "app")


def rows(name: str) -> list[dict[str, str]]:
    """A CSV table of tests/stacks/data, its '#' comment lines skipped."""
    with (DATA / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


@pytest.fixture(scope="module")
def graph() -> StackGraph:
    return load_graph(ROOT, (Path("stacks/openeuler"),))


def attrs(node: Node) -> dict[str, str]:
    return dict(node.attrs)


def built(graph: StackGraph, definition: str) -> Iterator[Node]:
    """The non-dev nodes expanded from one definition."""
    return (n for n in graph.nodes.values() if n.definition == definition and not n.variant)


def test_the_plan_has_the_documented_size(graph: StackGraph) -> None:
    nodes = list(graph.nodes.values())
    external = [n for n in nodes if n.external]
    dev = [n for n in nodes if n.variant == "dev"]
    assert (len(nodes), len(external), len(dev)) == (91, 5, 43)
    assert len(make_plan(graph)) == 91
    header = (STACK / "stack.yaml").read_text(encoding="utf-8")
    assert "91 nodes (5 external bases, 43 images, 43 -dev)" in header


def test_plan_works_offline_without_an_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "--root", str(ROOT), "stacks/openeuler", "--offline"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("91 nodes: 86 build, 5 external")


def test_every_pytorch_pair_is_a_row_of_ascends_table_and_every_row_is_built(graph: StackGraph) -> None:
    table = {(r["cann"], r["torch"]) for r in rows("torch_npu_table.csv")}
    cann_os = {(attrs(n)["sdk_version"], attrs(n)["os"]) for n in built(graph, "cann")}
    planned = {(a["sdk_version"], a["framework_version"], a["os"])
               for a in map(attrs, built(graph, "pytorch"))}
    assert {(cann, torch) for cann, torch, _ in planned} == table
    # line by line: each row on every release its CANN is built on
    assert planned == {(cann, torch, os) for cann, torch in table for c, os in cann_os if c == cann}


def test_python_versions_follow_the_torch_python_table(graph: StackGraph) -> None:
    allowed = {r["torch"]: r["pythons"].split() for r in rows("torch_python_table.csv")}
    for node in built(graph, "pytorch"):
        a = attrs(node)
        assert a["python"] in allowed[a["framework_version"]], node.name


def test_key_nodes_and_absences(graph: StackGraph) -> None:
    pairs = {(a["framework_version"], a["sdk_version"]) for a in map(attrs, built(graph, "pytorch"))}
    assert ("2.2.0", "8.0.RC3") not in pairs  # no torch_npu release for it
    assert ("2.1.0", "8.0.RC3") in pairs and ("2.3.1", "8.0.RC2") in pairs and ("2.3.1", "8.0.RC3") in pairs
    cann = {(a["sdk_version"], a["os"], a["python"]) for a in map(attrs, built(graph, "cann"))}
    assert ("8.1.RC1", "2403lts", "3.11") in cann and ("8.1.RC1", "2203lts", "3.11") in cann
    assert all(python in ("3.8", "3.10") for version, _, python in cann if version <= "8.0.RC2")
    mindspore = {(a["framework_version"], a["sdk_version"]) for a in map(attrs, built(graph, "mindspore"))}
    assert mindspore == {("2.3.0rc1", "8.0.RC1"), ("2.3.1", "8.0.RC2")}
    assert "2203sp3" not in {attrs(n).get("os") for n in graph.nodes.values()}
    assert not {n.definition for n in graph.nodes.values()} & {"tensorflow", "qwen7b", "llama2", "python"}


def test_the_alpha_toolkit_and_everything_on_it_is_arm64_only(graph: StackGraph) -> None:
    alpha = [n for n in graph.nodes.values() if attrs(n).get("sdk_version") == ALPHA]
    assert {n.definition for n in alpha} == {"cann", "pytorch", "fastchat", "chatglm26b"}
    assert len(alpha) == 8 and all(n.platforms == ("linux/arm64",) for n in alpha)
    others = [n for n in graph.nodes.values() if attrs(n).get("sdk_version") != ALPHA]
    assert all(n.platforms == ("linux/amd64", "linux/arm64") for n in others)


def test_upstream_tags_have_a_node(graph: StackGraph) -> None:
    for row in rows("upstream_tags.csv"):
        wanted = {k: v for k, v in row.items() if k in FIELDS and v}
        matches = [n for n in graph.nodes.values() if not n.variant and n.image == row["image"]
                   and all(attrs(n).get(k) == v for k, v in wanted.items())
                   and ("framework_version" in wanted or "framework" not in attrs(n))]
        assert len(matches) == 1, (row["tag"], [n.name for n in matches])


def test_oeep14_tags_of_the_upstream_images(graph: StackGraph) -> None:
    tags = {n.tag for n in graph.nodes.values() if not n.external}
    assert {"cann7.0.RC1.alpha002-oe2203sp2", "cann8.1.RC1-oe2403lts", "pytorch2.2.0-cann8.0.RC1-oe2403sp4",
            "fastchat-pytorch2.1.0.a1-cann7.0.RC1.alpha002-oe2203sp2",
            "mindspore2.3.0rc1-cann8.0.RC1-oe2203sp4-dev"} <= tags
    assert all(OEEP14.parse(tag) is not None for tag in tags)


# --- the Dockerfiles handle every planned node -----------------------------------------------------


def case_labels(dockerfile: str, variable: str) -> list[str]:
    """The patterns of the shell `case "${VARIABLE}..." in` block that follows it in a Dockerfile."""
    text = (STACK / dockerfile).read_text(encoding="utf-8")
    start = text.index(f'case "${{{variable}}}" in')
    block = text[start:text.index("esac", start)]
    return re.findall(r"^\s+([^\s()#][^\s()]*)\)", block, re.MULTILINE)


def matches(labels: list[str], value: str) -> str:
    """The first shell pattern (alternatives split on '|', '*' a wildcard) matching value."""
    for label in labels:
        for pattern in label.split("|"):
            if re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), value):
                return label
    return ""


def test_pytorch_dockerfile_pins_exactly_the_table() -> None:
    text = (STACK / "framework/pytorch/Dockerfile").read_text(encoding="utf-8")
    found = set(re.findall(r"^\s+([0-9][^/\s]*)/([^)\s]+)\) npu=(\S+) ;;", text, re.MULTILINE))
    assert found == {(r["torch"], r["cann"], r["torch_npu"]) for r in rows("torch_npu_table.csv")}


def test_every_planned_node_has_its_dockerfile_case(graph: StackGraph) -> None:
    cann_cases = case_labels("sdk/cann/Dockerfile", "CANN_VERSION")
    vision_cases = case_labels("framework/pytorch/Dockerfile", "TORCH_VERSION")
    mindspore_cases = case_labels("framework/mindspore/Dockerfile", "MINDSPORE_VERSION")
    for node in graph.nodes.values():
        a = attrs(node)
        if node.definition == "cann":
            assert matches(cann_cases, a["sdk_version"]) not in ("", "*"), node.name
        if node.definition == "pytorch":
            assert matches(vision_cases, a["framework_version"]) not in ("", "*"), node.name
        if node.definition == "mindspore":
            assert matches(mindspore_cases, a["framework_version"]) not in ("", "*"), node.name


def test_cann_packages_per_release() -> None:
    text = (STACK / "sdk/cann/Dockerfile").read_text(encoding="utf-8")
    assert "Ascend-cann-kernels-${CANN_CHIP}_${CANN_VERSION}_linux.run" in text  # before 8.1.RC1
    assert "Ascend-cann-kernels-${CANN_CHIP}_${CANN_VERSION}_linux-${arch}.run" in text
    assert 'nnal="Ascend-cann-nnal_${CANN_VERSION}_linux-${arch}.run"' in text
    assert 'ENTRYPOINT ["/usr/local/bin/ascend-entrypoint"]' in text and "useradd" not in text
    entry = (STACK / "sdk/common/ascend-entrypoint.sh").read_text(encoding="utf-8")
    assert "source /usr/local/Ascend/ascend-toolkit/set_env.sh" in entry


def test_cuda_uses_the_runfile_installer(graph: StackGraph) -> None:
    text = (STACK / "sdk/cuda/Dockerfile").read_text(encoding="utf-8")
    assert '--silent --toolkit' in text and "yum.repos.d" not in text
    cuda = {(a["sdk_version"], a["os"], a.get("cudnn", "")) for a in map(attrs, built(graph, "cuda"))}
    assert cuda == {("11.8.0", "2203lts", "8.9.0"), ("13.0.0", "2403lts", ""), ("13.0.0", "2403sp4", "")}


def run_scripts(dockerfile: Path) -> list[str]:
    """The shell of each RUN instruction, continuation lines joined and comment lines dropped."""
    instructions: list[str] = []
    current = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("#") or (not current and not line.strip()):
            continue
        current = f"{current} {line}" if current else line
        if current.endswith("\\"):
            current = current[:-1]
            continue
        instructions.append(current)
        current = ""
    return [re.sub(r"--mount=\S+", "", i[3:]) for i in instructions if i.startswith("RUN ")]


DOCKERFILES = sorted(STACK.rglob("Dockerfile"))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(STACK)))
def test_every_run_step_is_valid_shell(dockerfile: Path) -> None:
    scripts = run_scripts(dockerfile)
    assert scripts
    for script in scripts:
        checked = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, (dockerfile, checked.stderr)


def test_the_tag_scheme_is_one_line_to_switch() -> None:
    lines = (STACK / "stack.yaml").read_text(encoding="utf-8").splitlines()
    assert "tags: oeep14  # or: openeuler (openEuler's published scheme)" in lines
