"""A definition's own `tags:` convention: it wins over the stack's for generation, -dev siblings and lint."""

from __future__ import annotations

from collections.abc import Callable

from graph.expand.dag import build_graph
from graph.present.lint import WARNING, TagProblem, lint_graph
from graph.tags.conventions import CONVENTIONS
from tests.graph.conftest import Loaded

Load = Callable[..., Loaded]
Error = Callable[..., str]

# an SDK base tagged <cuda>-go<go>-py<python>-<os>, its service image <cuda>-py<python>-<os>
MIXED = """
stack: s
registry: r
tags: "template:cu{cuda}-go{go}-py{python}-{os}"
nodes:
  base:
    kind: sdk
    attrs: {cuda: "12.4", go: "1.22", python: "3.11", os: noble}
  service:
    kind: tool
    parent: base
    tags: "template:cu{cuda}-py{python}-{os}"
dev:
  dockerfile: dev/Dockerfile
"""

FILES = ["base/Dockerfile", "service/Dockerfile", "dev/Dockerfile"]


def test_a_definitions_convention_wins_over_the_stacks(load: Load) -> None:
    loaded = load(MIXED, dockerfiles=FILES)
    assert {node.name: node.tag for node in loaded.nodes} == {
        "base": "cu12.4-go1.22-py3.11-noble",
        "service": "cu12.4-py3.11-noble",
        "base-dev": "cu12.4-go1.22-py3.11-noble-dev",
        "service-dev": "cu12.4-py3.11-noble-dev",
    }
    conventions = {d.name: d.convention for d in loaded.stack.definitions}
    assert conventions == {"base": "template:cu{cuda}-go{go}-py{python}-{os}",
                           "service": "template:cu{cuda}-py{python}-{os}"}


def test_lint_checks_each_node_against_its_own_convention(load: Load) -> None:
    loaded = load(MIXED, dockerfiles=FILES)
    stack_graph = build_graph([loaded.stack])
    own = {d.name: d.convention for d in loaded.stack.definitions}
    assert lint_graph(stack_graph, {"s": loaded.stack.convention}, own) == []
    problems = lint_graph(stack_graph, {"s": loaded.stack.convention})  # the stack's for every node
    assert [(p.where, p.tag) for p in problems] == [
        ("s/stack.yaml:8 (service)", "cu12.4-py3.11-noble"),
        ("s/stack.yaml:12 (service-dev)", "cu12.4-py3.11-noble-dev"),
    ]


def test_an_explicit_tag_is_checked_against_the_definitions_convention(error: Error) -> None:
    text = MIXED.replace("    parent: base\n", "    parent: base\n    tag: 'svc-{python}'\n")
    assert error(text, dockerfiles=FILES) == (
        "s/stack.yaml:11: tag 'svc-3.11' does not follow template:cu{cuda}-py{python}-{os}: "
        "expected cu<cuda>-py<python>-<os>[-dev] (e.g. cux-pyx-x)")


def test_an_unknown_definition_convention_is_an_error_at_its_line(error: Error) -> None:
    text = MIXED.replace('    tags: "template:cu{cuda}-py{python}-{os}"', "    tags: semver")
    assert error(text, dockerfiles=FILES) == (
        f"s/stack.yaml:11: unknown tag convention 'semver'; use one of {', '.join(CONVENTIONS)} or "
        "template:<format> (see 'Writing a stack' in README.md for the schema)")


def test_a_bad_definition_template_is_an_error_at_its_line(error: Error) -> None:
    text = MIXED.replace('    tags: "template:cu{cuda}-py{python}-{os}"', '    tags: "template:{a}{b}"')
    assert error(text, dockerfiles=FILES) == (
        "s/stack.yaml:11: template placeholders {a}{b} touch, so a tag could not be split back; put text "
        "such as '-' between them, or make the second a *version (starts with a digit) "
        "(see 'Writing a stack' in README.md for the schema)")


def test_an_external_node_with_a_convention_is_an_error(error: Error) -> None:
    text = MIXED.replace("    kind: sdk\n", "    kind: sdk\n    from: debian:12\n    tags: nvidia\n")
    assert error(text, dockerfiles=FILES) == (
        "s/stack.yaml:8: node 'base' has both 'from' and 'tags' "
        "(an external image is used as it is: drop 'tags' or 'from')")


def test_a_definition_convention_under_a_stack_without_one(load: Load) -> None:
    text = MIXED.replace('tags: "template:cu{cuda}-go{go}-py{python}-{os}"\n', "").replace(
        "    kind: sdk\n", "    kind: sdk\n    tag: base\n")
    loaded = load(text, dockerfiles=FILES)
    assert {node.name: node.tag for node in loaded.nodes} == {
        "base": "base", "service": "cu12.4-py3.11-noble", "base-dev": "base-dev",
        "service-dev": "cu12.4-py3.11-noble-dev"}


OUT_OF_ORDER = """
stack: oe
registry: r
nodes:
  os:
    kind: os
    tag: oe2203sp2
    attrs: {os: 2203sp2}
  glm:
    kind: llm
    parent: os
    tags: oeep14
    tag: chatglm6b-cann7.0.RC1-pytorch2.1.0-oe{os}
"""  # an explicit oeep14 tag with the SDK before the framework


def test_lint_warns_about_an_out_of_order_explicit_tag(load: Load) -> None:
    text = OUT_OF_ORDER
    loaded = load(text, dockerfiles=["os/Dockerfile", "glm/Dockerfile"])
    own = {d.name: d.convention for d in loaded.stack.definitions}
    assert lint_graph(build_graph([loaded.stack]), {}, own) == [TagProblem(
        "chatglm6b-cann7.0.RC1-pytorch2.1.0-oe2203sp2", "s/stack.yaml:8 (glm)",
        "its fields are not in oeep14's order: the canonical tag is "
        "chatglm6b-pytorch2.1.0-cann7.0.RC1-oe2203sp2", WARNING)]


def test_the_dev_tag_of_an_explicit_tag_is_that_tags_dev_tag(load: Load) -> None:
    text = MIXED.replace("    parent: base\n", "    parent: base\n    tag: 'cu{cuda}-py3.12-{os}'\n")
    tags = {node.name: node.tag for node in load(text, dockerfiles=FILES).nodes}
    assert (tags["service"], tags["service-dev"]) == ("cu12.4-py3.12-noble", "cu12.4-py3.12-noble-dev")


def test_the_dev_tag_of_an_explicit_tag_reads_its_fields_from_the_tag(load: Load) -> None:
    text = OUT_OF_ORDER + "dev:\n  dockerfile: dev/Dockerfile\n  except: [os]\n"
    loaded = load(text, dockerfiles=["os/Dockerfile", "glm/Dockerfile", "dev/Dockerfile"])
    assert loaded.by_name()["glm-dev"].tag == "chatglm6b-pytorch2.1.0-cann7.0.RC1-oe2203sp2-dev"
