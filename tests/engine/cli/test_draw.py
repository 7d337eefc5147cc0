"""`stackbuild graph`: offline plans drawn as DOT, Mermaid, SVG, PNG and HTML; --select; PR mode; no dot."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from engine.cli import draw as graphcmd
from engine.cli import main as cli
from engine.cli.draw import graphviz
from engine.run import api
from graph.expand.dag import graph_of
from graph.model.spec import Node
from graph.plan.entries import make_plan
from graph.present.render import PALETTE, make_view, to_dot
from tests.engine.engine_fakes import fork

ROOT = Path(__file__).resolve().parents[3]
DEMO = api.Options(root=ROOT, targets=(Path("stacks/demo"),))


@pytest.fixture
def dot_binary() -> str:
    """Graphviz `dot`: make setup installs it, so CI fails without it; elsewhere the test is skipped."""
    found = shutil.which("dot")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz `dot` is required in CI (run `make setup`)")
        pytest.skip("Graphviz `dot` is not installed (run `make setup`)")
    return found


def graph(*args: str, root: Path = ROOT) -> int:
    return cli.main(["graph", "--root", str(root), "--log-format", "json", *args])


def demo_tags() -> list[str]:
    return [entry.ref.rsplit(":", 1)[1] for entry in api.plan(DEMO)]


def node_ids(dot: str) -> set[str]:
    return set(re.findall(r"^\s+(n_\w+) \[", dot, re.MULTILINE))


def test_dot_of_the_demo_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert graph("--offline", "--format", "dot", "stacks/demo") == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph stackbuild {")
    plan = api.plan(DEMO)
    assert node_ids(out) == {"n_" + re.sub(r"\W", "_", entry.node) for entry in plan}
    assert all(tag in out for tag in demo_tags())
    assert len(re.findall(r" -> ", out)) == sum(1 for entry in plan if entry.parent)
    assert f'fillcolor="{PALETTE["build"][0]}"' in out and "legend" in out
    assert 'subgraph "cluster_stack demo"' in out


def test_mermaid_of_the_demo_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert graph("--offline", "--format", "mermaid", "--cluster", "none", "stacks/demo") == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart LR\n") and "subgraph" not in out
    assert all(tag in out for tag in demo_tags())
    assert out.count(" --> ") == sum(1 for entry in api.plan(DEMO) if entry.parent)


def test_select_narrows_to_matches_and_greyed_ancestors(capsys: pytest.CaptureFixture[str]) -> None:
    assert graph("--offline", "--format", "dot", "--select", "chat-3*", "stacks/demo") == 0
    out = capsys.readouterr().out
    assert node_ids(out) == {"n_chat_3", "n_chat_3_dev", "n_numpy", "n_python_sdk", "n_debian"}
    context = {ident for ident in node_ids(out) if "dashed" in
               next(line for line in out.splitlines() if line.strip().startswith(f"{ident} ["))}
    assert context == {"n_numpy", "n_python_sdk", "n_debian"}
    assert "2 nodes: 2 build; 3 ancestors as context" in out


def test_select_matching_nothing_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert graph("--offline", "--format", "dot", "--select", "chat*", "--select", "nope*", "stacks/demo") == 2
    assert "no node name or tag matches 'nope*'" in capsys.readouterr().err


def test_svg_through_graphviz(dot_binary: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert graph("--offline", "--format", "svg", "stacks/demo") == 0
    out = capsys.readouterr().out
    assert "<svg" in out and out.rstrip().endswith("</svg>")
    assert all(tag in html.unescape(out) for tag in demo_tags())  # Graphviz writes "-" as &#45;
    assert 'id="node&#45;n_debian"' in out  # ids the HTML page's filter dims


def test_png_and_html_files(dot_binary: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png, page = tmp_path / "out" / "demo.png", tmp_path / "demo.html"
    assert graph("--offline", "--format", "png", "--out", str(png), "stacks/demo") == 0
    assert graph("--offline", "--format", "html", "--out", str(page), "stacks/demo") == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    text = page.read_text(encoding="utf-8")
    assert "<svg" in text and all(tag in text for tag in demo_tags())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    count = len(demo_tags())
    assert f"wrote {png} (png, {count} nodes: {count} build)" in capsys.readouterr().out


def test_missing_dot_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot
    assert graph("--offline", "--format", "svg", "stacks/demo") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Graphviz `dot` is not on PATH")
    assert "apt-get install graphviz" in err and "make setup" in err and "Traceback" not in err
    assert graph("--offline", "--format", "mermaid", "stacks/demo") == 0  # text formats need no dot


def test_failing_dot_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: syntax error in line 3' >&2\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(graphcmd.EngineError, match="failed with exit code 1: Error: syntax error in line 3"):
        graphcmd.graphviz("digraph {}", "svg")


# --- PR mode -------------------------------------------------------------------------------------

STACK = """\
stack: t
registry: localhost:5000/t
platforms: [linux/amd64]
nodes:
  base: {kind: os, tag: "1"}
  sdk: {kind: sdk, parent: base, tag: "2"}
  fw: {kind: framework, parent: sdk, tag: "3"}
  other: {kind: framework, parent: sdk, tag: "4"}
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                    *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git checkout holding one small stack, committed."""
    root = tmp_path / "repo"
    (root / "stacks" / "t").mkdir(parents=True)
    (root / "stacks" / "t" / "stack.yaml").write_text(STACK, encoding="utf-8")
    for name in ("base", "sdk", "fw", "other"):
        (root / "stacks" / "t" / name).mkdir()
        (root / "stacks/t" / name / "Dockerfile").write_text(f"FROM scratch\n# {name}\n", encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def test_pr_mode_offline_shows_affected_nodes_and_greyed_ancestors(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (repo / "stacks/t/fw/Dockerfile").open("a", encoding="utf-8") as file:
        file.write("# changed\n")
    with (repo / "stacks/t/stack.yaml").open("a", encoding="utf-8") as file:
        file.write("  extra: {kind: llm, parent: fw, tag: '5', dockerfile: other/Dockerfile}\n")
    assert graph("--offline", "--changed-since", "HEAD", "--format", "dot", root=repo) == 0
    out = capsys.readouterr().out
    assert node_ids(out) == {"n_base", "n_sdk", "n_fw", "n_extra"}  # `other` is not affected
    lines = {ident: next(line for line in out.splitlines() if line.strip().startswith(f"{ident} ["))
             for ident in node_ids(out)}
    assert all("dashed" in lines[ident] for ident in ("n_base", "n_sdk"))
    assert "build: dockerfile_changed" in lines["n_fw"]
    assert f'fillcolor="{PALETTE["new"][0]}"' in lines["n_extra"] and "new: new_node" in lines["n_extra"]
    assert "changed since HEAD" in out and "merge base" not in out


def test_pr_mode_names_the_merge_base_when_the_ref_moved_on(repo: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    forked = fork(repo, upstream={"stacks/t/other/Dockerfile": "FROM scratch\n# main moved on\n"},
                  branch={"stacks/t/fw/Dockerfile": "FROM scratch\n# the pr\n"})
    assert graph("--offline", "--changed-since", "main", "--format", "dot", root=repo) == 0
    out = capsys.readouterr().out
    assert node_ids(out) == {"n_base", "n_sdk", "n_fw"}  # `other` changed on main only
    assert f"changed since main (merge base {forked[:12]})" in out
    assert graph("--offline", "--changed-since", forked, "--format", "dot", root=repo) == 0
    assert f"changed since {forked}" in (out := capsys.readouterr().out) and "merge base" not in out


class NoImages:
    """A registry that holds nothing."""

    def digest(self, reference: str) -> str | None:
        return None


class AllImages:
    """A registry that holds every image, under any tag."""

    def digest(self, reference: str) -> str | None:
        return "sha256:" + "0" * 64


def test_pr_mode_asks_the_registry_unless_offline(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "stacks/t/other/Dockerfile").write_text("FROM scratch\n# other changed\n", encoding="utf-8")
    monkeypatch.setattr(graphcmd, "RegistryClient", AllImages)
    assert graph("--changed-since", "HEAD", "--format", "mermaid", "--cluster", "none", root=repo) == 0
    out = capsys.readouterr().out
    assert set(re.findall(r"^  (n_\w+)\[", out, re.MULTILINE)) == {"n_base", "n_sdk", "n_other"}
    assert "  class n_other skip" in out and "  class n_base,n_sdk context" in out  # up to date
    monkeypatch.setattr(graphcmd, "RegistryClient", NoImages)  # other's parents have no image: built too
    assert graph("--changed-since", "HEAD", "--format", "mermaid", "--cluster", "none", root=repo) == 0
    out = capsys.readouterr().out
    assert "  class n_base,n_sdk,n_other build" in out


def test_odd_text_survives_graphviz_literally(dot_binary: str) -> None:
    odd = Node(name="a", stack='we"ird <s> & \\N', kind="os", parent=None, dockerfile="a/D", context="a",
               registry="r/x", image="a", tag="1", platforms=("linux/amd64",))
    stack_graph = graph_of([odd])
    entries = tuple(replace(entry, reason='odd "q" \\ <b>') for entry in make_plan(stack_graph))
    svg = graphviz(to_dot(make_view(stack_graph, entries, title='t <"x"> & \\l')), "svg").decode()
    texts = [html.unescape(text) for text in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert 't <"x"> & \\l' in texts and 'stack we"ird <s> & \\N' in texts and "a:1" in texts
    assert html.unescape(re.findall(r'xlink:title="([^"]*)"', svg)[0]) == 'r/x/a:1\nbuild: odd "q" \\ <b>'
