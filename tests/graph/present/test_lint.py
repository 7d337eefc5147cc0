"""graph.present.lint: node tags and listed tags checked against the OCI grammar and a tag convention."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from graph.errors import Location
from graph.expand.dag import build_graph, graph_of
from graph.load.stackfile import load_stack
from graph.model.spec import Node
from graph.present.lint import TagProblem, lint_graph, lint_tags

OEEP14_STACK = """
stack: oe
registry: r.example/openeuler
tags: oeep14
nodes:
  base:
    kind: os
    from: openeuler/openeuler:22.03-lts-sp3
  openeuler:
    kind: os
    parent: base
    attrs: {os: 2203sp3}
  cann:
    kind: sdk
    parent: openeuler
    axes: {sdk_version: [8.0.RC1, 7.0.RC1.alpha002]}
  pytorch:
    kind: framework
    parent: cann
    attrs: {framework_version: 2.1.0}
  chatglm6b:
    kind: llm
    parent: pytorch
    image: llm
dev:
  dockerfile: dev/Dockerfile
  except: [openeuler]
"""

SHAPE = ("expected oe<os>[-dev] | <sdk><sdk_version>-oe<os>[-dev] | "
         "<framework><framework_version>-<sdk><sdk_version>-oe<os>[-dev] | "
         "<app>-<framework><framework_version>-<sdk><sdk_version>-oe<os>[-dev]")
OCI = "is not a valid OCI tag (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"


def test_an_oeep14_stack_passes(root: Path, write_stack: Callable[..., Path]) -> None:
    stack = load_stack(root, write_stack(OEEP14_STACK))
    stack_graph = build_graph([stack])
    tags = sorted(node.tag for node in stack_graph.nodes.values() if not node.external)
    assert tags == [
        "cann7.0.RC1.alpha002-oe2203sp3", "cann7.0.RC1.alpha002-oe2203sp3-dev",
        "cann8.0.RC1-oe2203sp3", "cann8.0.RC1-oe2203sp3-dev",
        "chatglm6b-pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp3",
        "chatglm6b-pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp3-dev",
        "chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3", "chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3-dev",
        "oe2203sp3",
        "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp3", "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp3-dev",
        "pytorch2.1.0-cann8.0.RC1-oe2203sp3", "pytorch2.1.0-cann8.0.RC1-oe2203sp3-dev",
    ]
    assert lint_graph(stack_graph, {stack.name: stack.convention}) == []
    assert lint_graph(stack_graph, {stack.name: "oeep14"}) == []


def test_node_tags_that_break_a_convention_are_reported(root: Path, write_stack: Callable[..., Path]) -> None:
    stack = load_stack(root, write_stack("""
        stack: plain
        registry: r
        nodes:
          os:
            kind: os
            tag: oe2203sp3
          sdk:
            kind: sdk
            parent: os
            tag: cann7.0-2203sp2
    """))
    stack_graph = build_graph([stack])
    assert lint_graph(stack_graph, {"plain": ""}) == []
    assert lint_graph(stack_graph, {}) == []
    problems = lint_graph(stack_graph, {"plain": "oeep14"})
    assert problems == [TagProblem(
        "cann7.0-2203sp2", "s/stack.yaml:7 (sdk)",
        "tag 'cann7.0-2203sp2' does not follow oeep14: expected <sdk><sdk_version>-oe<os>[-dev] "
        "('2203sp2' should look like oe<os>, e.g. oe2203sp3)")]


def test_the_node_kind_narrows_the_forms_checked(root: Path, write_stack: Callable[..., Path]) -> None:
    stack = load_stack(root, write_stack("""
        stack: plain
        registry: r
        nodes:
          fw:
            kind: framework
            tag: cann8.0.RC1-oe2203sp3
    """))
    problems = lint_graph(build_graph([stack]), {"plain": "oeep14"})
    assert problems == [TagProblem(
        "cann8.0.RC1-oe2203sp3", "s/stack.yaml:4 (fw)",
        "tag 'cann8.0.RC1-oe2203sp3' does not follow oeep14: expected "
        "<framework><framework_version>-<sdk><sdk_version>-oe<os>[-dev] "
        "(e.g. pytorch2.1.0-cann8.0.RC1-oe2203sp3)")]


def test_lint_graph_checks_the_oci_grammar_first_and_skips_external_nodes() -> None:
    where = Location("s/stack.yaml", 3)
    nodes = [
        Node("ext", "s", "os", None, "", "", "", "", "", ("linux/amd64",), external="debian:12"),
        Node("bad", "s", "os", "ext", "s/Dockerfile", "s", "r", "img", "-bad", ("linux/amd64",),
             location=where),
    ]
    expected = [TagProblem("-bad", "s/stack.yaml:3 (bad)", f"tag '-bad' {OCI}")]
    assert lint_graph(graph_of(nodes), {"s": "oeep14"}) == expected
    assert lint_graph(graph_of(nodes), {}) == expected


# --- lint_tags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "problem"), [
    ("8.0.RC1-oe2203sp4",
     f"tag '8.0.RC1-oe2203sp4' does not follow oeep14: {SHAPE} "
     "('8.0.RC1' should look like <sdk><sdk_version>, e.g. cann8.0.RC1)"),
    ("cann7.0-2203sp2",
     f"tag 'cann7.0-2203sp2' does not follow oeep14: {SHAPE} "
     "('2203sp2' should look like oe<os>, e.g. oe2203sp3)"),
    ("pytorch2.1.0-cann8.0.RC1-2203sp2",
     f"tag 'pytorch2.1.0-cann8.0.RC1-2203sp2' does not follow oeep14: {SHAPE} "
     "('2203sp2' should look like oe<os>, e.g. oe2203sp3)"),
    ("PyTorch2.1.0-cann8.0.RC1-oe2203sp2",
     f"tag 'PyTorch2.1.0-cann8.0.RC1-oe2203sp2' does not follow oeep14: {SHAPE} "
     "('PyTorch2.1.0' should look like <framework><framework_version>, e.g. pytorch2.1.0)"),
    ("cann8.0.RC1-oe2203sp2-devel",
     f"tag 'cann8.0.RC1-oe2203sp2-devel' does not follow oeep14: {SHAPE} "
     "('devel' should look like oe<os>, e.g. oe2203sp3)"),
])
def test_real_world_mistakes_are_flagged(tag: str, problem: str) -> None:
    assert lint_tags([("tags.txt:4", tag)], "oeep14") == [TagProblem(tag, "tags.txt:4", problem)]


@pytest.mark.parametrize("tag", [
    "oe2203sp2",
    "oe2203sp2-dev",
    "cann7.0.RC1.alpha002-oe2203sp2",
    "cann8.0.RC1-oe2403lts",
    "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2",
    "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2-dev",
    "chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3",
])
def test_conforming_tags_pass(tag: str) -> None:
    assert lint_tags([("tags.txt:1", tag)], "oeep14") == []


@pytest.mark.parametrize("tag", ["-dev", ".hidden", "has space", "", "a" * 129, "tag:colon", "ä"])
def test_oci_grammar_violations_are_flagged_before_the_convention(tag: str) -> None:
    expected = [TagProblem(tag, "l:1", f"tag {tag!r} {OCI}")]
    assert lint_tags([("l:1", tag)], "oeep14") == expected
    assert lint_tags([("l:1", tag)], "") == expected


def test_the_longest_valid_tag_passes_the_grammar() -> None:
    assert lint_tags([("l:1", "a" * 128), ("l:2", "_x"), ("l:3", "A.b-C_9")], "") == []


def test_problems_keep_the_listed_order_and_where() -> None:
    listed = [("f:1", "oe2203sp2"), ("f:2", "bad tag"), ("f:3", "cann7.0-2203sp2"), ("f:4", "oe2203sp3")]
    problems = lint_tags(listed, "oeep14")
    assert [(problem.where, problem.tag) for problem in problems] == [
        ("f:2", "bad tag"), ("f:3", "cann7.0-2203sp2")]


def test_other_conventions_and_templates() -> None:
    assert lint_tags([("f:1", "12.2.0-cudnn8-runtime-ubuntu22.04")], "nvidia") == []
    assert lint_tags([("f:1", "app-py311")], "template:{app}-py{python}") == []
    assert lint_tags([("f:1", "app_py311")], "template:{app}-py{python}") == [TagProblem(
        "app_py311", "f:1",
        "tag 'app_py311' does not follow template:{app}-py{python}: expected <app>-py<python>[-dev] "
        "(e.g. x-pyx)")]
