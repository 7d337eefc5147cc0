"""graph.present.render: DOT, Mermaid and HTML drawings of a plan, selection with greyed ancestors (pure)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from graph.errors import StackError
from graph.expand.assemble import load_graph
from graph.expand.dag import StackGraph, graph_of
from graph.expand.selection import select, with_ancestors
from graph.model.spec import Node
from graph.plan.entries import BUILD, EXTERNAL, RETAG, SKIP, PlanEntry, make_plan
from graph.present.render import (
    CONTEXT,
    FAILED,
    NEW,
    PALETTE,
    STATES,
    View,
    dot_quote,
    make_view,
    mermaid_text,
    state_of,
    to_dot,
    to_html,
    to_mermaid,
)

ROOT = Path(__file__).resolve().parents[3]
QUOTED_REASON = 'context_changed: odd "name" \\N.txt'


def node(name: str, kind: str, parent: str | None = None, *, tag: str = "", image: str = "", sdk: str = "",
         variant: str = "", external: str = "", platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64"),
         stack: str = "s") -> Node:
    return Node(name=name, stack=stack, kind=kind, parent=parent, dockerfile="" if external else f"{name}/D",
                context="" if external else name, registry="localhost:5000/t", image=image or name,
                tag="" if external else tag or f"{name}1.0", platforms=platforms, variant=variant,
                attrs=(("sdk", sdk),) if sdk else (), external=external)


@pytest.fixture
def stack_graph() -> StackGraph:
    """os → two SDKs → frameworks → llm and tool, plus a -dev variant."""
    return graph_of([
        node("base", "os", external="debian:12"),
        node("cpu", "sdk", "base", image="sdk", tag="cpu-py311", sdk="cpu"),
        node("gpu", "sdk", "base", image="sdk", tag="cuda12", sdk="cuda", platforms=("linux/amd64",)),
        node("torch", "framework", "cpu", sdk="cpu"),
        node("torch-gpu", "framework", "gpu", tag="torch1.0-cuda", image="torch", sdk="cuda",
             platforms=("linux/amd64",)),
        node("chat", "llm", "torch", sdk="cpu"),
        node("lint", "tool", "torch", sdk="cpu"),
        node("torch-dev", "framework", "torch", tag="torch1.0-dev", image="torch", sdk="cpu", variant="dev"),
    ])


@pytest.fixture
def entries(stack_graph: StackGraph) -> tuple[PlanEntry, ...]:
    """One node per action (and state)."""
    changes = {"cpu": (SKIP, "up_to_date"), "gpu": (RETAG, "tag_missing"),
               "torch": (BUILD, "dockerfile_changed"), "torch-gpu": (BUILD, "new_node"),
               "chat": (BUILD, QUOTED_REASON), "lint": (SKIP, "up_to_date")}
    return tuple(replace(e, action=changes[e.node][0], reason=changes[e.node][1]) if e.node in changes else e
                 for e in make_plan(stack_graph, reason="not_in_registry"))


@pytest.fixture
def view(stack_graph: StackGraph, entries: tuple[PlanEntry, ...]) -> View:
    return make_view(stack_graph, entries, title='plan <of> "all" & more', failed=frozenset({"torch-dev"}))


def by_node(view: View) -> dict[str, str]:
    return {item.entry.node: item.state for item in view.items}


def node_line(dot: str, ident: str) -> str:
    return next(line for line in dot.splitlines() if line.strip().startswith(f"{ident} ["))


# --- model ---------------------------------------------------------------------------------------


def test_states_cover_every_action_and_new_and_failed(view: View) -> None:
    assert by_node(view) == {"base": EXTERNAL, "cpu": SKIP, "gpu": RETAG, "torch": BUILD, "torch-gpu": NEW,
                             "chat": BUILD, "lint": SKIP, "torch-dev": FAILED}
    assert set(PALETTE) == {"build", "new", "retag", "skip", "failed", "external", "context"}
    assert len({colours[0] for colours in PALETTE.values()}) == 7  # every state its own fill


def test_labels_are_compact(view: View) -> None:
    labels = {item.entry.node: (item.label, item.platforms) for item in view.items}
    assert labels["base"] == ("debian:12", "amd64 arm64")  # an external base: its image
    assert labels["cpu"] == ("sdk:cpu-py311", "amd64 arm64")  # the tag does not name the image
    assert labels["torch"] == ("torch1.0", "amd64 arm64")  # the tag names it: the tag alone
    assert labels["gpu"] == ("sdk:cuda12", "amd64")
    assert not any("localhost:5000" in item.label for item in view.items)


def test_ids_are_unique_and_plain() -> None:
    graph = graph_of([node("a.b", "os"), node("a-b", "os", tag="x"), node("end", "os", tag="y")])
    ids = [item.id for item in make_view(graph, make_plan(graph)).items]
    assert ids == ["n_a_b", "n_a_b_2", "n_end"]


def test_select_matches_names_and_tags(stack_graph: StackGraph) -> None:
    assert select(stack_graph, ["torch*"]) == {"torch", "torch-gpu", "torch-dev"}
    assert select(stack_graph, ["cuda*", "chat"]) == {"gpu", "chat"}  # gpu by its tag
    with pytest.raises(StackError, match="no node name or tag matches 'nope\\*'"):
        select(stack_graph, ["chat", "nope*"])


def test_focus_shows_ancestors_greyed_and_hides_the_rest(stack_graph: StackGraph,
                                                         entries: tuple[PlanEntry, ...]) -> None:
    assert with_ancestors(stack_graph, {"chat"}) == {"chat", "torch", "cpu", "base"}
    view = make_view(stack_graph, entries, focus={"chat"})
    assert [(item.entry.node, item.context) for item in view.items] == [
        ("base", True), ("cpu", True), ("torch", True), ("chat", False)]
    assert view.edges == (("n_base", "n_cpu"), ("n_cpu", "n_torch"), ("n_torch", "n_chat"))
    assert view.summary == "1 nodes: 1 build; 3 ancestors as context"


def test_state_of() -> None:
    entry = PlanEntry("a", "s", "os", "r/a:1", None, ("linux/amd64",), BUILD, "new_node")
    assert state_of(entry) == NEW
    assert state_of(replace(entry, reason="forced")) == BUILD
    assert state_of(entry, frozenset({"a"})) == FAILED


# --- DOT -----------------------------------------------------------------------------------------

DOT_STRING = r'"(?:[^"\\]|\\.)*"'


def test_dot_has_every_node_edge_and_the_legend(view: View) -> None:
    dot = to_dot(view)
    assert dot.startswith("digraph stackbuild {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    for item in view.items:
        assert dot_quote(f"{item.label}\n{item.platforms} · {item.state}") in node_line(dot, item.id)
    edges = re.findall(r"^  (n_\w+) -> (n_\w+);$", dot, re.MULTILINE)
    assert tuple(edges) == view.edges and len(edges) == 7
    heading = re.search(r"label=<(.*)>\];", dot.splitlines()[1])
    assert heading and "<B>legend</B>" in heading.group(1)
    legend = re.findall(r'<TD BGCOLOR="(#\w+)" COLOR="(#\w+)">.*?>(\w+)</FONT>', heading.group(1))
    assert legend == [("#ffd8a8", "#e8590c", "build"), ("#b2f2bb", "#2f9e44", "new"),
                      ("#a5d8ff", "#1971c2", "retag"), ("#ffffff", "#868e96", "skip"),
                      ("#ffc9c9", "#e03131", "failed"), ("#e5dbff", "#7048e8", "external")]
    assert "rankdir=LR" in dot and "concentrate=true" in dot


def test_dot_colours_nodes_by_state(view: View) -> None:
    dot = to_dot(view)
    for item in view.items:
        fill, border, text = PALETTE[item.state]
        line = node_line(dot, item.id)
        assert f'fillcolor="{fill}", color="{border}", fontcolor="{text}"' in line
        assert "dashed" not in line


def test_dot_ranks_layers_with_dev_variants_last(view: View) -> None:
    ranks = re.findall(r"^  \{rank=same; (.*);\}$", to_dot(view), re.MULTILINE)
    assert [set(rank.split("; ")) for rank in ranks] == [
        {"n_base"}, {"n_cpu", "n_gpu"}, {"n_torch", "n_torch_gpu"}, {"n_lint"}, {"n_chat"}, {"n_torch_dev"}]


@pytest.mark.parametrize(("cluster", "expected"), [
    ("stack", {"stack s": {"n_base", "n_cpu", "n_gpu", "n_torch", "n_torch_gpu", "n_chat", "n_lint",
                           "n_torch_dev"}}),
    ("sdk", {"sdk cpu": {"n_cpu", "n_torch", "n_chat", "n_lint", "n_torch_dev"},
             "sdk cuda": {"n_gpu", "n_torch_gpu"}}),
    ("none", {}),
])
def test_dot_clusters(stack_graph: StackGraph, entries: tuple[PlanEntry, ...], cluster: str,
                      expected: dict[str, set[str]]) -> None:
    dot = to_dot(make_view(stack_graph, entries, cluster=cluster))
    found = {title: set(re.findall(r"^    (n_\w+) \[", body, re.MULTILINE)) for title, body in
             re.findall(r'^  subgraph "cluster_([^"]*)" \{\n(.*?)^  \}$', dot, re.MULTILINE | re.DOTALL)}
    assert found == expected
    assert re.search(r"^  n_base \[", dot, re.MULTILINE) or cluster == "stack"  # no sdk: outside


def test_dot_escapes_labels_tooltips_and_the_title(view: View) -> None:
    dot = to_dot(view)
    for item in view.items:  # every attribute value is one well-formed DOT string
        attributes = re.fullmatch(r"\s*n_\w+ \[(.*)\];", node_line(dot, item.id))
        assert attributes and re.fullmatch(rf"\w+={DOT_STRING}(, \w+={DOT_STRING})*", attributes.group(1))
    assert r'tooltip="localhost:5000/t/chat:chat1.0\nbuild: context_changed: odd \"name\" \\N.txt"' in dot
    assert "plan &lt;of&gt; \"all\" &amp; more" in dot.splitlines()[1]  # HTML-like label: entities


@pytest.mark.parametrize(("text", "quoted"), [
    ('a"b', r'"a\"b"'), ("a\\b", r'"a\\b"'), ("a\nb", r'"a\nb"'), ("\\N", r'"\\N"'), ("", '""')])
def test_dot_quote(text: str, quoted: str) -> None:
    assert dot_quote(text) == quoted


def test_dot_greys_context_nodes(stack_graph: StackGraph, entries: tuple[PlanEntry, ...]) -> None:
    dot = to_dot(make_view(stack_graph, entries, focus={"chat"}))
    fill, border, _ = PALETTE[CONTEXT]
    for ident in ("n_base", "n_cpu", "n_torch"):
        assert f'fillcolor="{fill}", color="{border}"' in node_line(dot, ident)
        assert 'style="rounded,filled,dashed"' in node_line(dot, ident)
    assert f'fillcolor="{PALETTE[BUILD][0]}"' in node_line(dot, "n_chat")
    assert ">context</FONT>" in dot and "n_gpu" not in dot


# --- Mermaid -------------------------------------------------------------------------------------

MERMAID_LINE = {
    "node": re.compile(r'^ *(n_[A-Za-z0-9_]+)\["((?:[^"<>]|<br/>)*)"\]$'),
    "edge": re.compile(r"^ *(n_[A-Za-z0-9_]+) --> (n_[A-Za-z0-9_]+)$"),
    "subgraph": re.compile(r'^ *subgraph (g\d+)\["([^"<>]*)"\]$'),
    "end": re.compile(r"^ *end$"),
    "classDef": re.compile(r"^ *classDef (\w+) fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#[0-9a-f]{6}"
                           r"(,stroke-dasharray:\d+ \d+)?$"),
    "class": re.compile(r"^ *class (n_[A-Za-z0-9_]+(?:,n_[A-Za-z0-9_]+)*) (\w+)$"),
}


def parse_mermaid(text: str) -> dict[str, list[tuple[str, ...]]]:
    """Check every line against the small grammar; return what each kind of line holds."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart LR"
    found: dict[str, list[tuple[str, ...]]] = {kind: [] for kind in MERMAID_LINE}
    depth = 0
    for line in lines[1:]:
        kind, match = next(((k, m) for k, p in MERMAID_LINE.items() if (m := p.match(line))), ("", None))
        assert match, f"not valid Mermaid flowchart syntax here: {line!r}"
        depth += {"subgraph": 1, "end": -1}.get(kind, 0)
        assert 0 <= depth <= 1
        found[kind].append(match.groups())
    assert depth == 0
    return found


def test_mermaid_has_every_node_and_edge_in_a_valid_flowchart(view: View) -> None:
    parsed = parse_mermaid(to_mermaid(view))
    declared = [ident for ident, _ in parsed["node"]]
    assert sorted(declared) == sorted(item.id for item in view.items)  # each exactly once
    assert tuple(parsed["edge"]) == view.edges
    labels = dict(parsed["node"])
    for item in view.items:
        assert labels[item.id] == f"{item.label}<br/>{item.platforms} · {item.state}"
    assert {title for _, title in parsed["subgraph"]} == {"stack s"}


def test_mermaid_classes_follow_states(stack_graph: StackGraph, entries: tuple[PlanEntry, ...]) -> None:
    view = make_view(stack_graph, entries, focus={"chat", "torch-gpu"}, cluster="sdk")
    parsed = parse_mermaid(to_mermaid(view))
    defined = {groups[0] for groups in parsed["classDef"]}
    assert defined == {*STATES, CONTEXT}
    members = {name: set(ids.split(",")) for ids, name in parsed["class"]}
    assert members == {BUILD: {"n_chat"}, NEW: {"n_torch_gpu"},
                       CONTEXT: {"n_base", "n_cpu", "n_gpu", "n_torch"}}
    assert {title for _, title in parsed["subgraph"]} == {"sdk cpu", "sdk cuda"}


def test_mermaid_escapes_labels() -> None:
    assert mermaid_text('a "b" <c> & #d;\ne') == "a #quot;b#quot; #lt;c#gt; #amp; #35;d;<br/>e"
    graph = graph_of([node("a", "os", stack='we"ird <s>')])
    parsed = parse_mermaid(to_mermaid(make_view(graph, make_plan(graph))))
    assert parsed["subgraph"] == [("g1", "stack we#quot;ird #lt;s#gt;")]


def test_the_openeuler_matrix_renders_completely() -> None:
    graph = load_graph(ROOT, (Path("stacks/openeuler"),))
    view = make_view(graph, make_plan(graph), cluster="sdk")
    assert len(view.items) == len(graph.nodes) == 91
    parsed = parse_mermaid(to_mermaid(view))
    assert len(parsed["node"]) == len(graph.nodes) and len(parsed["edge"]) == graph.graph.number_of_edges()
    dot = to_dot(view)
    assert all(f"{item.id} [" in dot for item in view.items)


# --- HTML ----------------------------------------------------------------------------------------

SVG = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
       '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
       '<svg xmlns="http://www.w3.org/2000/svg">'
       '<g id="node-n_chat" class="node"><text>chat</text></g></svg>\n')


def test_html_is_self_contained_with_every_node(view: View) -> None:
    page = to_html(view, SVG)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"<link|<script[^>]*src|@import|url\(", page, re.IGNORECASE)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert '<svg xmlns="http://www.w3.org/2000/svg"><g id="node-n_chat"' in page
    rows = re.findall(r'<tr data-id="(n_\w+)">(.*?)</tr>', page)
    assert [ident for ident, _ in rows] == [item.id for item in view.items]
    for item, (_, row) in zip(view.items, rows, strict=True):
        assert f">{item.label}</td>" in row and f"<td>{item.entry.node}</td>" in row
    assert "<title>plan &lt;of&gt; &quot;all&quot; &amp; more</title>" in page
    assert "odd &quot;name&quot; \\N.txt" in page
    assert 'id="filter"' in page and "applyFilter" in page


def test_html_marks_context_rows(stack_graph: StackGraph, entries: tuple[PlanEntry, ...]) -> None:
    page = to_html(make_view(stack_graph, entries, focus={"chat"}), "<svg></svg>")
    assert page.count("(context)</td>") == 3
    assert "3 ancestors as context" in page
