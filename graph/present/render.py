"""Drawings of a plan's DAG as text: Graphviz DOT, Mermaid, and a self-contained HTML page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from graph.expand.dag import StackGraph
from graph.expand.selection import with_ancestors
from graph.model.spec import Node
from graph.plan.entries import BUILD, EXTERNAL, RETAG, SKIP, PlanEntry

FAILED, NEW, CONTEXT = "failed", "new", "context"
STATES = (BUILD, NEW, RETAG, SKIP, FAILED, EXTERNAL)
PALETTE = {  # state → (fill, border, text); context: an ancestor drawn only to show where a node sits
    BUILD: ("#ffd8a8", "#e8590c", "#3b1d00"),
    NEW: ("#b2f2bb", "#2f9e44", "#0b3312"),
    RETAG: ("#a5d8ff", "#1971c2", "#07294d"),
    SKIP: ("#ffffff", "#868e96", "#343a40"),
    FAILED: ("#ffc9c9", "#e03131", "#4d0a0a"),
    EXTERNAL: ("#e5dbff", "#7048e8", "#22114d"),
    CONTEXT: ("#f1f3f5", "#ced4da", "#adb5bd"),
}
LAYERS = ("os", "sdk", "framework", "tool", "llm", "dev")  # left to right; -dev variants last
CLUSTERS = ("stack", "sdk", "none")
FONT = "Helvetica,Arial,sans-serif"


@dataclass(frozen=True)
class Item:
    """One drawn node: its plan entry and how it is shown."""

    entry: PlanEntry
    id: str  # valid in DOT, Mermaid and HTML
    label: str  # compact: the tag, prefixed by the image when the tag does not name it
    platforms: str  # "amd64 arm64"
    state: str  # one of STATES
    context: bool  # greyed: an ancestor of a focused node, not focused itself
    layer: int  # index in LAYERS
    group: str  # cluster title, "" outside any cluster


@dataclass(frozen=True)
class View:
    """What a drawing shows: items in build order and parent → child edges between their ids."""

    items: tuple[Item, ...]
    edges: tuple[tuple[str, str], ...]
    title: str = ""

    @property
    def summary(self) -> str:
        """'12 nodes: 9 build, 3 skip' over the focused items, context counted apart."""
        focused = [item.state for item in self.items if not item.context]
        counts = [f"{focused.count(state)} {state}" for state in STATES if state in focused]
        context = len(self.items) - len(focused)
        return f"{len(focused)} nodes: {', '.join(counts) or 'none'}" + (
            f"; {context} ancestors as context" if context else "")


def make_view(stack_graph: StackGraph, entries: Iterable[PlanEntry], focus: set[str] | None = None,
              cluster: str = "stack", title: str = "", failed: frozenset[str] = frozenset()) -> View:
    """The entries to draw: all of them, or the focus plus its ancestors greyed as context."""
    plan = list(entries)
    shown = {entry.node for entry in plan} if focus is None else with_ancestors(stack_graph, focus)
    ids = _ids(entry.node for entry in plan if entry.node in shown)
    items = tuple(_item(entry, stack_graph.nodes[entry.node], ids[entry.node], cluster,
                        focus is not None and entry.node not in focus, failed)
                  for entry in plan if entry.node in ids)
    edges = tuple((ids[item.entry.parent], item.id) for item in items if item.entry.parent in ids)
    return View(items, edges, title)


def state_of(entry: PlanEntry, failed: frozenset[str] = frozenset()) -> str:
    """The colour a node gets: failed, new (a build of a node the change adds), or its action."""
    if entry.node in failed:
        return FAILED
    return NEW if entry.action == BUILD and entry.reason == "new_node" else entry.action


def _item(entry: PlanEntry, node: Node, ident: str, cluster: str, context: bool,
          failed: frozenset[str]) -> Item:
    label = node.external or (node.tag if node.tag.startswith(node.image) else f"{node.image}:{node.tag}")
    layer = LAYERS.index("dev") if node.variant else LAYERS.index(node.kind) if node.kind in LAYERS else 0
    group = {"stack": f"stack {node.stack}", "sdk": f"sdk {node.attr('sdk')}" if node.attr("sdk") else ""}
    platforms = " ".join(p.removeprefix("linux/") for p in entry.platforms)
    return Item(entry, ident, label, platforms, state_of(entry, failed), context, layer,
                group.get(cluster, ""))


def _ids(names: Iterable[str]) -> dict[str, str]:
    """Unique identifiers made of [A-Za-z0-9_] that no DOT or Mermaid keyword can clash with."""
    ids: dict[str, str] = {}
    for name in names:
        base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        ident, number = base, 1
        while ident in ids.values():
            number += 1
            ident = f"{base}_{number}"
        ids[name] = ident
    return ids


def _text(item: Item) -> str:
    """The two-line label: tag, then platforms and state."""
    return f"{item.label}\n{item.platforms} · {item.state}"


def _groups(items: Iterable[Item]) -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    return groups


# --- DOT ----------------------------------------------------------------------------------------


def dot_quote(text: str) -> str:
    """text as a DOT double-quoted string: backslashes and quotes escaped, newlines as \\n."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(view: View) -> str:
    """A Graphviz digraph: layers as ranks left to right, colours by action, clusters and a legend."""
    lines = ["digraph stackbuild {",
             f"  graph [rankdir=LR, newrank=true, concentrate=true, nodesep=0.06, ranksep=0.7, "
             f"fontname={dot_quote(FONT)}, fontsize=12, labelloc=t, labeljust=l, label=<{_heading(view)}>];",
             f"  node [shape=box, style=\"rounded,filled\", fontname={dot_quote(FONT)}, fontsize=10, "
             f"height=0.3, margin=\"0.08,0.03\"];",
             "  edge [color=\"#868e96\", arrowsize=0.5, penwidth=0.8];"]
    for group, items in _groups(view.items).items():
        body = [f"    {_dot_node(item)}" for item in items]
        if group:
            lines += [f"  subgraph {dot_quote('cluster_' + group)} {{",
                      f"    label={dot_quote(group)}; style=\"rounded,filled\"; fillcolor=\"#f8f9fa\"; "
                      f"color=\"#dee2e6\";", *body, "  }"]
        else:
            lines += [line[2:] for line in body]
    layers: dict[int, list[str]] = {}
    for item in view.items:
        layers.setdefault(item.layer, []).append(item.id)
    lines += [f"  {{rank=same; {'; '.join(ids)};}}" for _, ids in sorted(layers.items())]
    lines += [f"  {parent} -> {child};" for parent, child in view.edges]
    return "\n".join([*lines, "}"]) + "\n"


def _heading(view: View) -> str:
    """The graph's HTML-like label: title, summary and a legend with one coloured cell per state."""
    states = [*STATES, CONTEXT] if any(item.context for item in view.items) else list(STATES)
    cells = "".join(f'<TD BGCOLOR="{PALETTE[state][0]}" COLOR="{PALETTE[state][1]}">'
                    f'<FONT COLOR="{PALETTE[state][2]}">{state}</FONT></TD>' for state in states)
    legend = (f'<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="3"><TR><TD BORDER="0">'
              f'<B>legend</B></TD>{cells}</TR></TABLE>')
    rows = [f'<FONT POINT-SIZE="15">{html.escape(view.title, quote=False)}</FONT>' if view.title else "",
            html.escape(view.summary, quote=False), legend]
    return ('<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2">'
            + "".join(f'<TR><TD ALIGN="LEFT">{row}</TD></TR>' for row in rows if row) + "</TABLE>")


def _dot_node(item: Item) -> str:
    fill, border, text = PALETTE[CONTEXT if item.context else item.state]
    attrs = {"label": _text(item), "fillcolor": fill, "color": border,
             "fontcolor": text, "id": f"node-{item.id}",
             "tooltip": f"{item.entry.ref}\n{item.state}: {item.entry.reason}"}
    if item.context:
        attrs["style"] = "rounded,filled,dashed"
    return f"{item.id} [{', '.join(f'{key}={dot_quote(value)}' for key, value in attrs.items())}];"


# --- Mermaid ------------------------------------------------------------------------------------


def mermaid_text(text: str) -> str:
    """text safe inside a Mermaid "quoted" label: entities for the characters Mermaid or HTML reads."""
    for char, entity in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("&", "#amp;")):
        text = text.replace(char, entity)  # "#" first: the entities added after it stay intact
    return text.replace("\n", "<br/>")


def to_mermaid(view: View) -> str:
    """A `flowchart LR` for a Markdown comment: subgraphs as clusters, one classDef per action."""
    lines = ["flowchart LR"]
    for number, (group, items) in enumerate(_groups(view.items).items(), start=1):
        nodes = [f'{item.id}["{mermaid_text(_text(item))}"]' for item in items]
        if group:
            lines += [f'  subgraph g{number}["{mermaid_text(group)}"]', *(f"    {n}" for n in nodes), "  end"]
        else:
            lines += [f"  {n}" for n in nodes]
    lines += [f"  {parent} --> {child}" for parent, child in view.edges]
    for state in (*STATES, CONTEXT):
        fill, border, text = PALETTE[state]
        dashed = ",stroke-dasharray:4 3" if state == CONTEXT else ""
        lines.append(f"  classDef {state} fill:{fill},stroke:{border},color:{text}{dashed}")
        members = [item.id for item in view.items if (CONTEXT if item.context else item.state) == state]
        if members:
            lines.append(f"  class {','.join(members)} {state}")
    return "\n".join(lines) + "\n"


# --- HTML ---------------------------------------------------------------------------------------

_STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#212529}
#graph{overflow:auto;border:1px solid #dee2e6;max-height:80vh} #graph.fit svg{width:100%;height:auto}
table{border-collapse:collapse;margin-top:.5em} th,td{padding:2px 10px;text-align:left;
border-bottom:1px solid #e9ecef;white-space:nowrap} th{position:sticky;top:0;background:#fff}
tr.hidden{display:none} g.node.dim{opacity:.15} #filter{font-size:14px;padding:3px 6px;width:28em}"""

_SCRIPT = """const box = document.getElementById("filter");
const rows = Array.from(document.querySelectorAll("#nodes tbody tr"));
function applyFilter() {
  const words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
  let shown = 0;
  for (const row of rows) {
    const hit = words.every((word) => row.textContent.toLowerCase().includes(word));
    row.classList.toggle("hidden", !hit);
    shown += hit ? 1 : 0;
    const node = document.getElementById("node-" + row.dataset.id);
    if (node) node.classList.toggle("dim", !hit);
  }
  document.getElementById("count").textContent = shown + " of " + rows.length + " nodes";
}
if (location.hash.startsWith("#q=")) box.value = decodeURIComponent(location.hash.slice(3));
box.addEventListener("input", applyFilter);
document.getElementById("fit").addEventListener("change", (event) => {
  document.getElementById("graph").classList.toggle("fit", event.target.checked);
});
applyFilter();"""


def to_html(view: View, svg: str) -> str:
    """One page without external resources: the inline SVG, a node table and a filter box (#q=WORDS)."""
    svg = re.sub(r"<\?xml[^>]*>|<!DOCTYPE[^>]*>", "", svg).strip()
    title = html.escape(view.title or "stackbuild graph")
    return "\n".join([
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
        f"<title>{title}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>",
        f"<h1>{title}</h1>\n<p>{html.escape(view.summary)}</p>",
        '<p><label><input type="checkbox" id="fit"> fit the graph to the window</label></p>',
        f'<div id="graph">\n{svg}\n</div>',
        '<p><input id="filter" type="search" placeholder="filter: node, tag, action, reason, platform…" '
        'aria-label="filter the nodes"> <span id="count"></span></p>',
        '<table id="nodes">\n<thead><tr><th>node</th><th>tag</th><th>action</th><th>reason</th>'
        "<th>platforms</th><th>parent</th><th>stack</th></tr></thead>\n<tbody>",
        *(_html_row(item) for item in view.items),
        f"</tbody>\n</table>\n<script>\n{_SCRIPT}\n</script>\n</body>\n</html>\n"])


def _html_row(item: Item) -> str:
    """One table row; the action cell in the node's colours, the tag's cell titled with the full ref."""
    fill, border, text = PALETTE[CONTEXT if item.context else item.state]
    state = html.escape(item.state + (" (context)" if item.context else ""))
    cells = [f"<td>{html.escape(item.entry.node)}</td>",
             f'<td title="{html.escape(item.entry.ref)}">{html.escape(item.label)}</td>',
             f'<td style="background:{fill};color:{text};border:1px solid {border}">{state}</td>',
             *(f"<td>{html.escape(cell)}</td>" for cell in (item.entry.reason, item.platforms,
                                                           item.entry.parent or "-", item.entry.stack))]
    return f'<tr data-id="{item.id}">{"".join(cells)}</tr>'
