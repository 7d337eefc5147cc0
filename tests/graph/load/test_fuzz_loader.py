"""Property: loading any stack file, however broken or hostile, ends in a StackError/GraphError that
names file:line, or in a graph, and does so quickly.

The examples are stack-shaped YAML documents and byte-level mutations of the real stacks in stacks/.
The run is deterministic (derandomized); `make fuzz` runs the same property with many more examples
(HYPOTHESIS_PROFILE=fuzz, FUZZ_EXAMPLES=N). Every crash found goes into corpus/ (see test_corpus.py).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.errors import GraphError
from graph.expand.assemble import load_graph
from graph.plan.entries import make_plan

REPO = Path(__file__).resolve().parents[3]
STACKS = ("demo", "openeuler")
SECONDS_PER_LOAD = 2.0  # CPU seconds; the slowest real load here takes well under 0.2 s

settings.register_profile("default", max_examples=150, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")),
                          derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real stacks (without the rootfs tarballs) to write mutated stack files into."""
    path = tmp_path_factory.mktemp("fuzz")
    for name in STACKS:
        shutil.copytree(REPO / "stacks" / name, path / "stacks" / name,
                        ignore=shutil.ignore_patterns("rootfs"))
    return path


ORIGINALS = {name: (REPO / "stacks" / name / "stack.yaml").read_bytes() for name in STACKS}

# Fragments that YAML, the schema and the templates give meaning to.
FRAGMENTS = [b"&a ", b"*a", b"<<: *a", b"[", b"]", b"{", b"}", b": ", b"- ", b"\n", b"\t", b"'", b'"',
             b"\x00", b"\x07", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"---\n", b"? ", b"!!python/object ",
             b"{os}", b"{", b"}", b"extends: ", b"parent: ", b"from: ", b"axes: {x: [1, 2, 3]}", b"9" * 50,
             b"2001-02-30", b"~", b"..", b"/../../", b",", b" -> ", b"(", b")", b"\\", b"%", b"\r",
             b"&b [*a, *a, *a]", b"<<: [*a, *a]", b"!!binary ", b"!!int ", b"1e999", b"0x1F", b"{os}{os}{os}",
             b"not not ", b"platforms: [linux/amd64, linux/amd64]", b"{{", b"}}", "\u2028".encode()]


@st.composite
def mutated_stack(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real stack file with a few byte-level edits."""
    name = draw(st.sampled_from(STACKS))
    data = bytearray(ORIGINALS[name])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(("insert", "delete", "replace", "duplicate", "byte")))
        if edit == "insert":
            data[at:at] = draw(st.sampled_from(FRAGMENTS))
        elif edit == "delete":
            del data[at:at + draw(st.integers(1, 80))]
        elif edit == "replace":
            data[at:at + draw(st.integers(1, 10))] = draw(st.binary(min_size=0, max_size=8))
        elif edit == "duplicate":
            end = min(len(data), at + draw(st.integers(1, 400)))
            data[end:end] = data[at:end]
        elif at < len(data):
            data[at] = draw(st.integers(0, 255))
    return name, bytes(data)


WORDS = st.sampled_from(["os", "sdk", "framework", "llm", "tool", "a", "b", "c", "debian:12", "{os}", "{v}",
                         "linux/amd64", "linux/arm64", "x -> y", "v < '2'", "oeep14",
                         "template:{a}-{v_version}", "1", "2.0", "", " ", "a\nb", "-x", "Dockerfile", "../x",
                         "a,b", "\u2028", "x" * 300, "{" * 40, "'unclosed"])
SCALARS = st.one_of(WORDS, st.integers(-10, 10**6), st.booleans(), st.none(), st.text(max_size=12))
NODE_KEYS = ["kind", "name", "extends", "parent", "from", "dockerfile", "context", "target", "image", "tag",
             "platforms", "args", "attrs", "axes", "include", "exclude", "constraints", "test", "secrets",
             "contract", "retest_ancestors", "bogus"]


def _values(leaf: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(WORDS, inner, max_size=4)),
                        max_leaves=12)


@st.composite
def shaped_stack(draw: st.DrawFn) -> tuple[str, bytes]:
    """A YAML document shaped like a stack file, with odd values in its fields."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=5, unique=True))
    nodes = {name: draw(st.dictionaries(st.sampled_from(NODE_KEYS), _values(SCALARS), max_size=6))
             for name in names}
    for name in names:
        nodes[name].setdefault("kind", draw(st.sampled_from(["os", "sdk", "framework"])))
    document: dict[str, object] = {"stack": draw(st.sampled_from(["s", "S", ""])),
                                   "registry": "localhost:5000/s", "nodes": nodes}
    if draw(st.booleans()):
        document["tags"] = draw(st.sampled_from(["oeep14", "nvidia", "pai", "rocm",
                                                 "template:{a}{b_version}x"]))
    if draw(st.booleans()):
        document["dev"] = draw(st.dictionaries(st.sampled_from(["dockerfile", "except", "suffix", "test"]),
                                               _values(SCALARS), max_size=3))
    return "demo", yaml.safe_dump(document, allow_unicode=True).encode()


def check_load(root: Path, name: str, data: bytes) -> None:
    """Load data as stack `name`: a graph, or a GraphError naming file:line, within the time bound."""
    file = root / "stacks" / name / "stack.yaml"
    file.write_bytes(data)
    started = time.process_time()
    try:
        make_plan(load_graph(root, [Path("stacks") / name]), reason="not_checked")
    except GraphError as exc:
        assert re.match(rf"stacks/{name}/stack\.yaml:[0-9]+: \S", str(exc)), str(exc)
    finally:
        file.write_bytes(ORIGINALS[name])
    assert time.process_time() - started < SECONDS_PER_LOAD


@given(mutated_stack())
def test_mutated_real_stacks_fail_only_with_located_stack_errors(root: Path, case: tuple[str, bytes]) -> None:
    check_load(root, *case)


@given(shaped_stack())
def test_stack_shaped_documents_fail_only_with_located_stack_errors(root: Path,
                                                                     case: tuple[str, bytes]) -> None:
    check_load(root, *case)


def test_the_unmutated_stacks_load(root: Path) -> None:
    for name in STACKS:
        assert len(load_graph(root, [Path("stacks") / name]).nodes) == {"demo": 13, "openeuler": 91}[name]
