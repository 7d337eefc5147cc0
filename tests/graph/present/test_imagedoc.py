"""graph.present.imagedoc: each exported image's README.md and doc/image-info.yml, derived from the stack
(tags, Dockerfiles, "Currently", architectures, pull command) plus the prose of its `doc:`."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from graph.errors import StackError
from graph.expand.dag import StackGraph, build_graph
from graph.load.stackfile import load_stack
from graph.model.spec import ImageDoc, Stack
from graph.present.export import meta_entries
from graph.present.imagedoc import (
    NO_ENVIRONMENT,
    NO_LICENSE,
    NO_USAGE,
    ImagePages,
    currently,
    image_docs,
    image_pages,
    link_base_problem,
    tag_rows,
    tag_table,
)

STACK = """
stack: ai
registry: r.example/oe
nodes:
  base:
    kind: os
    from: "openeuler/openeuler:{os_release}"
    attrs: {os_name: openeuler}
    include: [{os: 2403lts, os_release: 24.03-lts}]
  cann:
    kind: sdk
    parent: base
    axes: {sdk_version: [8.0.RC1, 8.1.RC1]}
    constraints: ["sdk_version == '8.0.RC1' -> arch == 'arm64'"]
    attrs: {python: "3.11"}
    tag: "{sdk_version}-oe{os}"
    doc:
      description: The CANN toolkit.
      category: ai
      usage: |
        docker run --rm -it r.example/oe/cann:{Tag}
      logo: logo.png
  torch:
    kind: framework
    parent: cann
    axes: {framework_version: ["2.4"], flavour: [slim, full]}
    constraints: ["sdk_version == '8.1.RC1'"]
    tag: "{framework_version}-{flavour}-{sdk}{sdk_version}-oe{os}"
dev:
  dockerfile: dev/Dockerfile
  except: [cann]
"""


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Stack, StackGraph]:
    folder = tmp_path / "s"
    for name in ("cann/Dockerfile", "torch/Dockerfile", "dev/Dockerfile"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("FROM parent\n", encoding="utf-8")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "stack.yaml").write_text(textwrap.dedent(STACK), encoding="utf-8")
    stack = load_stack(tmp_path, folder / "stack.yaml")
    return stack, build_graph([stack])


def pages(loaded: tuple[Stack, StackGraph]) -> ImagePages:
    stack, stack_graph = loaded
    return image_pages(meta_entries(stack_graph), stack_graph.nodes, image_docs([stack]))


def test_currently_names_the_component_what_it_is_built_on_python_and_the_os(
        loaded: tuple[Stack, StackGraph]) -> None:
    nodes = loaded[1].nodes
    assert currently(nodes["cann-8.1.RC1"]) == "cann 8.1.RC1 with Python 3.11 on openeuler 24.03-lts"
    assert currently(nodes["torch-2.4-slim-cann-8.1.RC1"]) == \
        "torch 2.4 with cann 8.1.RC1, Python 3.11 on openeuler 24.03-lts"
    assert currently(nodes["torch-2.4-slim-cann-8.1.RC1-dev"]) == \
        "torch 2.4 with cann 8.1.RC1, Python 3.11 on openeuler 24.03-lts (dev variant)"


SPELLING = {"openeuler": "openEuler", "24.03-lts": "24.03-LTS", "cann": "CANN", "torch": "PyTorch"}


def test_currently_spells_each_value_as_the_stack_displays_it(loaded: tuple[Stack, StackGraph]) -> None:
    nodes = loaded[1].nodes
    assert currently(nodes["torch-2.4-slim-cann-8.1.RC1-dev"], SPELLING) == \
        "PyTorch 2.4 with CANN 8.1.RC1, Python 3.11 on openEuler 24.03-LTS (dev variant)"
    assert currently(nodes["cann-8.1.RC1"], {"8.1.RC1": "8.1.RC1 (beta)", "3.11": "3.11.9"}) == \
        "cann 8.1.RC1 (beta) with Python 3.11.9 on openeuler 24.03-lts"


def test_the_values_that_tell_equal_lines_apart_are_spelled_too(loaded: tuple[Stack, StackGraph]) -> None:
    stack_graph = loaded[1]
    entries = [entry for entry in meta_entries(stack_graph) if entry.meta == "ai/torch/meta.yml"]
    rows = tag_rows(entries, stack_graph.nodes, display={**SPELLING, "slim": "Slim"})
    assert [row.currently for row in rows][:2] == [
        "PyTorch 2.4 with CANN 8.1.RC1, Python 3.11 on openEuler 24.03-LTS (flavour full)",
        "PyTorch 2.4 with CANN 8.1.RC1, Python 3.11 on openEuler 24.03-LTS (flavour Slim)"]


def test_values_spelled_alike_tell_equal_lines_apart_as_they_are(loaded: tuple[Stack, StackGraph]) -> None:
    stack_graph = loaded[1]
    entries = [entry for entry in meta_entries(stack_graph) if entry.meta == "ai/torch/meta.yml"]
    rows = tag_rows(entries, stack_graph.nodes, display={**SPELLING, "full": "PyTorch", "slim": "PyTorch"})
    assert [row.currently for row in rows] == [
        "PyTorch 2.4 with CANN 8.1.RC1, Python 3.11 on openEuler 24.03-LTS (flavour full)",
        "PyTorch 2.4 with CANN 8.1.RC1, Python 3.11 on openEuler 24.03-LTS (flavour slim)",
        "PyTorch 2.4 with CANN 8.1.RC1, Python 3.11 on openEuler 24.03-LTS (dev variant) (flavour full)",
        "PyTorch 2.4 with CANN 8.1.RC1, Python 3.11 on openEuler 24.03-LTS (dev variant) (flavour slim)"]


def test_pages_spell_values_as_their_own_stack_displays_them(loaded: tuple[Stack, StackGraph]) -> None:
    stack, stack_graph = loaded
    for display, line in (({"ai": SPELLING}, "CANN 8.1.RC1 with Python 3.11 on openEuler 24.03-LTS"),
                          ({"other": SPELLING}, "cann 8.1.RC1 with Python 3.11 on openeuler 24.03-lts")):
        written = image_pages(meta_entries(stack_graph), stack_graph.nodes, image_docs([stack]),
                              display=display)
        row = f"| [8.1.RC1-oe2403lts](8.1.RC1/24.03-lts/Dockerfile) | {line} | amd64, arm64 |"
        assert row + "\n" in written.texts["ai/cann/README.md"]
        assert yaml.safe_load(written.texts["ai/cann/doc/image-info.yml"])["tags"].splitlines()[-1] == row


def test_rows_give_the_dockerfile_per_tag_its_architectures_and_tell_equal_lines_apart(
        loaded: tuple[Stack, StackGraph]) -> None:
    stack_graph = loaded[1]
    entries = [entry for entry in meta_entries(stack_graph) if entry.meta == "ai/torch/meta.yml"]
    rows = tag_rows(entries, stack_graph.nodes)
    same = "torch 2.4 with cann 8.1.RC1, Python 3.11 on openeuler 24.03-lts"
    assert [(row.tag, row.dockerfile, row.currently, row.architectures) for row in rows] == [
        ("2.4-full-cann8.1.RC1-oe2403lts", "2.4-full-cann8.1.RC1/24.03-lts/Dockerfile",
         f"{same} (flavour full)", "amd64, arm64"),
        ("2.4-slim-cann8.1.RC1-oe2403lts", "2.4-slim-cann8.1.RC1/24.03-lts/Dockerfile",
         f"{same} (flavour slim)", "amd64, arm64"),
        ("2.4-full-cann8.1.RC1-oe2403lts-dev", "2.4-full-cann8.1.RC1-dev/24.03-lts/Dockerfile",
         f"{same} (dev variant) (flavour full)", "amd64, arm64"),
        ("2.4-slim-cann8.1.RC1-oe2403lts-dev", "2.4-slim-cann8.1.RC1-dev/24.03-lts/Dockerfile",
         f"{same} (dev variant) (flavour slim)", "amd64, arm64"),
    ]
    cann = [entry for entry in meta_entries(stack_graph) if entry.meta == "ai/cann/meta.yml"]
    assert [row.architectures for row in tag_rows(cann, stack_graph.nodes)] == ["arm64", "amd64, arm64"]


def test_a_pipe_in_a_cell_is_escaped(loaded: tuple[Stack, StackGraph]) -> None:
    stack_graph = loaded[1]
    node = stack_graph.nodes["torch-2.4-slim-cann-8.1.RC1"]
    entries = [entry for entry in meta_entries(stack_graph) if entry.node == node.name]
    rows = tag_rows(entries, {node.name: replace(node, attrs=(("sdk", "x|y"),))})
    assert tag_table(rows).splitlines()[2] == \
        "| [2.4-slim-cann8.1.RC1-oe2403lts](2.4-slim-cann8.1.RC1/24.03-lts/Dockerfile) | x\\|y " \
        "| amd64, arm64 |"


def test_every_image_folder_gets_a_readme_and_an_image_info_and_the_logo_it_names(
        loaded: tuple[Stack, StackGraph]) -> None:
    written = pages(loaded)
    assert sorted(written.texts) == ["ai/cann/README.md", "ai/cann/doc/image-info.yml",
                                     "ai/torch/README.md", "ai/torch/doc/image-info.yml"]
    assert written.logos == {"ai/cann/doc/picture/logo.png": "s/logo.png"}


def test_image_info_has_openeulers_keys_with_the_authors_prose(loaded: tuple[Stack, StackGraph]) -> None:
    info = yaml.safe_load(pages(loaded).texts["ai/cann/doc/image-info.yml"])
    assert list(info) == ["name", "category", "description", "environment", "tags", "download", "usage",
                          "license", "similar_packages", "dependency"]
    assert {key: info[key] for key in ("name", "category", "description", "usage", "license")} == {
        "name": "cann", "category": "ai", "description": "The CANN toolkit.",
        "usage": "docker run --rm -it r.example/oe/cann:{Tag}", "license": NO_LICENSE}
    assert info["environment"] == NO_ENVIRONMENT
    assert info["tags"].splitlines()[2:] == [
        "| Tag | Currently | Architectures |", "| --- | --- | --- |",
        "| [8.0.RC1-oe2403lts](8.0.RC1/24.03-lts/Dockerfile) | cann 8.0.RC1 with Python 3.11 on openeuler "
        "24.03-lts | arm64 |",
        "| [8.1.RC1-oe2403lts](8.1.RC1/24.03-lts/Dockerfile) | cann 8.1.RC1 with Python 3.11 on openeuler "
        "24.03-lts | amd64, arm64 |"]
    assert "docker pull r.example/oe/cann:{Tag}\n" in info["download"]
    assert info["similar_packages"] == info["dependency"] == ["N/A"]


def test_without_doc_the_pages_say_only_what_the_stack_gives(loaded: tuple[Stack, StackGraph]) -> None:
    written = pages(loaded)
    info = yaml.safe_load(written.texts["ai/torch/doc/image-info.yml"])
    assert (info["category"], info["description"], info["usage"]) == \
        ("others", "The torch images of the stack ai, published as r.example/oe/torch.", NO_USAGE)
    readme = written.texts["ai/torch/README.md"]
    assert "## Usage" not in readme and "## License" not in readme
    assert "\n# torch\n\nThe torch images of the stack ai, published as r.example/oe/torch.\n" in readme


def test_readme_has_the_tag_table_the_pull_command_and_the_usage(loaded: tuple[Stack, StackGraph]) -> None:
    readme = pages(loaded).texts["ai/cann/README.md"]
    assert "\n# cann\n\nThe CANN toolkit.\n" in readme
    assert "| [8.1.RC1-oe2403lts](8.1.RC1/24.03-lts/Dockerfile) | cann 8.1.RC1 with Python 3.11 on " \
           "openeuler 24.03-lts | amd64, arm64 |\n" in readme
    assert "```bash\ndocker pull r.example/oe/cann:{Tag}\n```\n" in readme
    assert readme.endswith("## Usage\n\ndocker run --rm -it r.example/oe/cann:{Tag}\n")


def test_image_docs_map_each_documented_image_of_each_stack(loaded: tuple[Stack, StackGraph]) -> None:
    assert image_docs([loaded[0]]) == {("ai", "cann"): ImageDoc(
        description="The CANN toolkit.", category="ai", usage="docker run --rm -it r.example/oe/cann:{Tag}",
        logo="s/logo.png")}


def test_a_tag_whose_folder_would_be_a_page_is_an_error_at_its_node(tmp_path: Path) -> None:
    (tmp_path / "s" / "a").mkdir(parents=True)
    (tmp_path / "s" / "a" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (tmp_path / "s" / "stack.yaml").write_text(
        "stack: s\nregistry: r.example/x\nnodes:\n  a:\n    kind: os\n    tag: README.md\n"
        "    attrs: {os_release: '1'}\n", encoding="utf-8")
    stack_graph = build_graph([load_stack(tmp_path, tmp_path / "s" / "stack.yaml")])
    with pytest.raises(StackError) as caught:
        image_pages(meta_entries(stack_graph), stack_graph.nodes, {})
    assert str(caught.value) == ("s/stack.yaml:4: tag 'README.md' would have its folder README.md/1 where "
                                 "export meta writes the image's README.md "
                                 "(give the node a tag that does not start with the name of a page)")


BASE_URL = "https://gitee.com/openeuler/openeuler-docker-images/blob/master"


@pytest.mark.parametrize("link_base", [BASE_URL, BASE_URL + "/", BASE_URL + "//"])
def test_a_link_base_makes_each_tag_link_absolute_below_the_stack_folder(
        loaded: tuple[Stack, StackGraph], link_base: str) -> None:
    stack, stack_graph = loaded
    written = image_pages(meta_entries(stack_graph), stack_graph.nodes, image_docs([stack]), link_base)
    row = f"| [8.1.RC1-oe2403lts]({BASE_URL}/ai/cann/8.1.RC1/24.03-lts/Dockerfile) | cann 8.1.RC1 with " \
          "Python 3.11 on openeuler 24.03-lts | amd64, arm64 |"
    readme = written.texts["ai/cann/README.md"]
    assert row + "\n" in readme
    assert "Each tag links to the Dockerfile it is built from.\n" in readme
    info = yaml.safe_load(written.texts["ai/cann/doc/image-info.yml"])
    assert info["tags"].splitlines()[0] == "Tags of r.example/oe/cann, each linked to its Dockerfile:"
    assert info["tags"].splitlines()[-1] == row


@pytest.mark.parametrize(("value", "problem"), [
    ("ftp://example.org/x", "'ftp://example.org/x' is not an https:// or http:// URL"),
    ("gitee.com/openeuler", "'gitee.com/openeuler' is not an https:// or http:// URL"),
    ("https:///x", "'https:///x' names no host"),
    ("https://gitee.com/a b", "'https://gitee.com/a b' holds a space or a character a markdown link "
                              "or table cannot hold"),
    ("https://gitee.com/a)b", "'https://gitee.com/a)b' holds a space or a character a markdown link "
                              "or table cannot hold"),
    ("https://gitee.com/a|b", "'https://gitee.com/a|b' holds a space or a character a markdown link "
                              "or table cannot hold"),
    ("https://gitee.com/x?ref=1", "'https://gitee.com/x?ref=1' has a query or fragment, which the "
                                  "Dockerfile paths would be appended to"),
    ("https://gitee.com/x#top", "'https://gitee.com/x#top' has a query or fragment, which the "
                                "Dockerfile paths would be appended to"),
    ("https://user:pw@gitee.com/x", "'https://user:pw@gitee.com/x' holds a user name or password, which "
                                    "would be published in every page"),
])
def test_a_bad_link_base_is_named_with_its_problem(value: str, problem: str) -> None:
    assert link_base_problem(value) == problem


@pytest.mark.parametrize("value", [BASE_URL, BASE_URL + "/", "http://localhost:8080/tree/main",
                                   "https://gitee.com"])
def test_a_good_link_base_has_no_problem(value: str) -> None:
    assert link_base_problem(value) == ""
