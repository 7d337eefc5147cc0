"""The stack setting `sbom: {generator: REF}`: loaded, resolved below the registry, ordered before users."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from graph.errors import StackError
from graph.expand.dag import build_graph
from graph.load.stackfile import load_stack
from graph.model.spec import names_host
from tests.graph.conftest import Loaded

TOOLS = """
stack: tools
registry: localhost:5000/sb
nodes:
  base: {kind: os, tag: "12"}
  sbom-generator: {kind: tool, parent: base, image: sbom-generator, tag: "1"}
"""
DEMO = """
stack: demo
registry: localhost:5000/sb
sbom: {generator: "sbom-generator:1"}
nodes:
  os: {kind: os, tag: "12"}
  app: {kind: sdk, parent: os, tag: "1"}
dev: {dockerfile: dev/Dockerfile}
"""


def test_the_generator_resolves_below_the_stack_registry_and_reaches_dev_siblings(
        load: Callable[..., Loaded]) -> None:
    nodes = load(DEMO).by_name()
    assert nodes["app"].sbom_generator_ref == "localhost:5000/sb/sbom-generator:1"
    assert nodes["app-dev"].sbom_generator_ref == "localhost:5000/sb/sbom-generator:1"


def test_a_generator_with_a_host_is_used_as_written(load: Callable[..., Loaded]) -> None:
    text = DEMO.replace('"sbom-generator:1"', "registry.example/scan/gen:2")
    assert load(text).by_name()["os"].sbom_generator_ref == "registry.example/scan/gen:2"


def test_a_stack_without_sbom_has_no_generator(load: Callable[..., Loaded]) -> None:
    assert load(TOOLS).by_name()["sbom-generator"].sbom_generator_ref == ""


@pytest.mark.parametrize(("value", "message"), [
    ('"gen,x:1"', "contains ','"),
    ('"Gen:1"', "is not a valid image reference"),
])
def test_a_bad_generator_is_a_stack_error_at_its_line(error: Callable[..., str], value: str,
                                                      message: str) -> None:
    text = DEMO.replace('"sbom-generator:1"', value)
    assert message in error(text)
    assert error(text).startswith("s/stack.yaml:3: sbom generator")


def test_unknown_sbom_key_is_refused(error: Callable[..., str]) -> None:
    assert "unknown key 'scanner' in 'sbom'" in error(DEMO.replace("generator:", "scanner:"))


def test_a_generator_built_here_is_built_before_every_image_it_scans(
        root: Path, write_stack: Callable[..., Path]) -> None:
    stacks = [load_stack(root, write_stack(TOOLS, folder="tools")),
              load_stack(root, write_stack(DEMO, folder="demo"))]
    graph = build_graph(stacks)
    order = graph.order
    for scanned in ("os", "app", "app-dev"):
        assert order.index("sbom-generator") < order.index(scanned)
        assert "sbom-generator" in graph.ancestors(scanned)
    assert graph.nodes["app"].parent == "os"  # the parent stays the parent


def test_a_generator_built_on_an_image_it_scans_is_a_cycle(
        root: Path, write_stack: Callable[..., Path]) -> None:
    text = DEMO + "  sbom-generator: {kind: tool, parent: os, image: sbom-generator, tag: '1'}\n"
    text = text.replace("dev: {dockerfile: dev/Dockerfile}\n", "")
    with pytest.raises(StackError) as caught:
        build_graph([load_stack(root, write_stack(text))])
    assert "an SBOM generator is built on an image it scans" in str(caught.value)
    assert "sbom-generator" in str(caught.value)


@pytest.mark.parametrize(("reference", "host"), [
    ("localhost:5000/a/b:1", True), ("registry.example/a:1", True), ("localhost/a", True),
    ("sbom-generator:1", False), ("tools/sbom-generator:1", False),
])
def test_names_host(reference: str, host: bool) -> None:
    assert names_host(reference) is host
