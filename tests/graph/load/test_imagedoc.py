"""graph.load.imagedoc: a node's `doc:` (the prose of export meta's image pages), each error at file:line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from graph.load.imagedoc import DOC_KEYS, MAX_LINE, MAX_LOGO_BYTES, MAX_PROSE, PNG_SIGNATURE
from graph.model.spec import ImageDoc
from tests.graph.conftest import Loaded

Load = Callable[..., Loaded]
Error = Callable[..., str]

# Lines:      1         2                             3        4     5           6
BASE = 'stack: s\nregistry: localhost:5000/demo\nnodes:\n  a:\n    kind: os\n    tag: "1"\n'
SCHEMA = "(see 'Writing a stack' in README.md for the schema)"
PNG = PNG_SIGNATURE + b"\x00\x00\x00\rIHDR"


def test_doc_is_read_with_prose_stripped_and_the_logo_from_the_stack_folder(load: Load, root: Path) -> None:
    (root / "s" / "art").mkdir(parents=True)
    (root / "s" / "art" / "logo.png").write_bytes(PNG)
    loaded = load(BASE + "    doc:\n      description: >-\n        One\n        line.\n      category: ai\n"
                  "      usage: |\n        docker run x\n        more\n      license: MIT\n"
                  "      similar_packages: [b]\n      dependency: [c, d]\n      logo: art/logo.png\n")
    doc = loaded.stack.definitions[0].doc
    assert doc == ImageDoc(description="One line.", category="ai", usage="docker run x\nmore", license="MIT",
                           similar_packages=("b",), dependency=("c", "d"), logo="s/art/logo.png")
    assert doc is not None and str(doc.location) == "s/stack.yaml:7"


def test_a_node_without_doc_has_none(load: Load) -> None:
    assert load(BASE).stack.definitions[0].doc is None


def test_extends_inherits_the_doc_and_one_image_may_repeat_it(load: Load) -> None:
    text = BASE + "    image: one\n    doc: {description: Same.}\n  b:\n    extends: a\n    tag: '2'\n"
    definitions = load(text).stack.definitions
    assert [d.doc for d in definitions] == [ImageDoc(description="Same.")] * 2


ERRORS = [
    ("unknown-key", BASE + "    doc:\n      descripton: x\n",
     f"s/stack.yaml:8: unknown key 'descripton' in 'doc' (known keys: {', '.join(DOC_KEYS)})"),
    ("not-a-mapping", BASE + "    doc: a text\n",
     "s/stack.yaml:7: 'doc' must be a mapping, got str "
     "(write it as `key: value` lines indented below its name)"),
    ("list-description", BASE + "    doc:\n      description: [a]\n",
     "s/stack.yaml:8: 'description' must be a string, got list "
     "(write 'description: <text>' (quote values such as yes/no/on/off))"),
    ("prose-too-long", BASE + f"    doc:\n      usage: {'x' * (MAX_PROSE + 1)}\n",
     f"s/stack.yaml:8: the text is {MAX_PROSE + 1} characters long (at most {MAX_PROSE}) {SCHEMA}"),
    ("category", BASE + "    doc:\n      category: Big Data\n",
     f"s/stack.yaml:8: category 'Big Data' must be lower-case letters and digits (e.g. ai, others) {SCHEMA}"),
    ("dependency-item", BASE + "    doc:\n      dependency: [a, {b: c}]\n",
     "s/stack.yaml:8: 'dependency' item 2 must be a string (write 'dependency: [a, b]')"),
    ("dependency-newline", BASE + '    doc:\n      dependency: [a, "b\\nc"]\n',
     f"s/stack.yaml:8: the item 'b'… spans several lines {SCHEMA}"),
    ("dependency-too-long", BASE + f"    doc:\n      dependency: [{'x' * (MAX_LINE + 1)}]\n",
     f"s/stack.yaml:8: the item is {MAX_LINE + 1} characters long (at most {MAX_LINE}) {SCHEMA}"),
    ("logo-missing", BASE + "    doc:\n      logo: logo.png\n",
     "s/stack.yaml:8: logo s/logo.png does not exist "
     "(create it or set 'logo:' to its path relative to the stack file)"),
    ("logo-outside", BASE + "    doc:\n      logo: ../../etc/logo.png\n",
     "s/stack.yaml:8: logo '../../etc/logo.png' is outside the repository "
     "(keep the logo inside the repository, without ',' in the path)"),
    ("logo-in-git", BASE + "    doc:\n      logo: ../.git/logo.png\n",
     "s/stack.yaml:8: logo '../.git/logo.png' is in git's own files (.git), where CI keeps credentials "
     "(keep the logo in the work tree)"),
    ("logo-folder", BASE + "    doc:\n      logo: .\n",
     "s/stack.yaml:8: logo s/. is a folder, not a file "
     "(create it or set 'logo:' to its path relative to the stack file)"),
    ("external", 'stack: s\nregistry: localhost:5000/demo\nnodes:\n  a:\n    kind: os\n    from: debian:12\n'
     "    doc: {description: x}\n",
     "s/stack.yaml:7: node 'a' has both 'from' and 'doc' "
     "(an external image is used as it is: drop 'doc' or 'from')"),
    ("two-docs-one-image", BASE + "    image: one\n    doc: {description: A.}\n"
     "  b:\n    kind: os\n    tag: '2'\n    image: one\n    doc: {description: B.}\n",
     "s/stack.yaml:13: nodes 'a' and 'b' both write a 'doc:' for image 'one' of stack 's' "
     "(an image has one README: keep 'doc:' on node 'a' only, at s/stack.yaml:8)"),
]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A real logo next to the repository, so 'outside' errors are not 'missing' errors."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "logo.png").write_bytes(PNG)
    return etc


@pytest.mark.parametrize(("text", "expected"), [pytest.param(*case[1:], id=case[0]) for case in ERRORS])
def test_bad_doc_is_a_stack_error_at_the_offending_line(error: Error, outside: Path, root: Path, text: str,
                                                        expected: str) -> None:
    (root / ".git").mkdir()
    (root / ".git" / "logo.png").write_bytes(PNG)
    assert error(text) == expected


def test_a_logo_that_is_no_png_is_refused_at_its_line(error: Error, root: Path) -> None:
    (root / "s").mkdir()
    (root / "s" / "logo.png").write_bytes(b"GIF89a....")
    assert error(BASE + "    doc:\n      logo: logo.png\n") == \
        "s/stack.yaml:8: logo s/logo.png is not a PNG file (save the logo as PNG)"


def test_a_logo_too_large_is_refused_at_its_line(error: Error, root: Path) -> None:
    (root / "s").mkdir()
    (root / "s" / "logo.png").write_bytes(PNG + b"\0" * MAX_LOGO_BYTES)
    assert error(BASE + "    doc:\n      logo: logo.png\n") == \
        f"s/stack.yaml:8: logo s/logo.png is {MAX_LOGO_BYTES + len(PNG)} bytes, more than {MAX_LOGO_BYTES} " \
        "(use a smaller logo)"
