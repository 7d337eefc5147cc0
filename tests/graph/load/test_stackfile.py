"""graph.load.stackfile: one stack file → checked definitions (expanded here into nodes), with file:line
errors and the -dev rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from graph.errors import Location, StackError
from graph.expand.definitions import expand
from graph.load.stackfile import DEFAULT_PLATFORMS, load_stack
from graph.model.spec import Definition, DevRule, Node, Secret, Stack
from tests.graph.conftest import Loaded

Load = Callable[..., Loaded]
Error = Callable[..., str]

# Lines:      1         2                             3        4     5           6
BASE = 'stack: s\nregistry: localhost:5000/demo\nnodes:\n  a:\n    kind: os\n    tag: "1"\n'
NODE_KEYS = ("kind, name, extends, parent, from, dockerfile, context, target, image, tag, tags, platforms, "
             "args, attrs, axes, include, exclude, constraints, test, secrets, contract, retest_ancestors, "
             "doc")
KINDS = "os, sdk, framework, tool, llm"
PLATFORMS = ("linux/amd64, linux/arm64, linux/arm/v7, linux/arm/v6, linux/ppc64le, linux/s390x, "
             "linux/riscv64, linux/386")
TAG_RULE = "(allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
SCHEMA = "(see 'Writing a stack' in README.md for the schema)"
NOT_MAPPING_HINT = "(write it as `key: value` lines indented below its name)"


def by_name(loaded: Loaded) -> dict[str, Node]:
    return loaded.by_name()


# --- errors: file:line: message (hint) ----------------------------------------------------------

# (id, stack text, Dockerfiles to create or None for "what the text needs", exact error)
ERRORS = [
    ("unknown-node-key", BASE + "    colour: red\n", None,
     f"s/stack.yaml:7: unknown key 'colour' in node 'a' (known keys: {NODE_KEYS})"),
    ("unknown-top-key", BASE + "nodez: {}\n", None,
     "s/stack.yaml:7: unknown key 'nodez' in a stack file "
     "(known keys: stack, registry, platforms, tags, args, secrets, nodes, dev, adopt, provenance, sbom, "
     "display)"),
    ("bad-provenance", "provenance: full\n" + BASE, None,
     "s/stack.yaml:1: provenance 'full' is not a mode (known: max, min, off) " + SCHEMA),
    ("unknown-dev-key", BASE + "dev:\n  dockerfile: a/Dockerfile\n  tag: x\n", None,
     "s/stack.yaml:9: unknown key 'tag' in 'dev' "
     "(known keys: dockerfile, context, target, suffix, args, secrets, test, except)"),
    ("unknown-secret-key", BASE + "    secrets:\n      - id: t\n        file: /x\n", None,
     "s/stack.yaml:9: unknown key 'file' in a secret (known keys: id, env, src)"),
    ("unknown-kind", BASE.replace("kind: os", "kind: vm"), ["a/Dockerfile"],
     f"s/stack.yaml:5: unknown kind 'vm' (use one of: {KINDS})"),
    ("missing-kind", BASE.replace("    kind: os\n", ""), None,
     "s/stack.yaml:4: node 'a' needs 'kind' (add 'kind: ...')"),
    ("missing-tag", BASE.replace('    tag: "1"\n', ""), None,
     "s/stack.yaml:4: node 'a' has no tag "
     "(add 'tag:' to the node, or 'tags: <convention>' to the node or the stack)"),
    ("bad-tag", BASE.replace('tag: "1"', "tag: -x"), None,
     # tags are templates, checked once expanded: the error names the tag: line
     f"s/stack.yaml:6: tag '-x' is not a valid OCI tag {TAG_RULE} "
     "(shorten the tag or change the values it is made of)"),
    ("tag-not-text", BASE.replace('tag: "1"', "tag: [1]"), None,
     "s/stack.yaml:6: 'tag' must be a string, got list "
     "(write 'tag: <text>' (quote values such as yes/no/on/off))"),
    ("bad-stack-platform", BASE.replace("nodes:", "platforms: [linux/amd64, linux/sparc]\nnodes:"),
     None, f"s/stack.yaml:3: platform 'linux/sparc' is not supported (known: {PLATFORMS}) {SCHEMA}"),
    ("bad-node-platform", BASE + "    platforms:\n      - linux/amd64\n      - amd64\n", None,
     f"s/stack.yaml:9: platform 'amd64' is not supported (known: {PLATFORMS}) {SCHEMA}"),
    ("missing-default-dockerfile", BASE, [],
     "s/stack.yaml:4: Dockerfile s/a/Dockerfile does not exist "
     "(create it or set 'dockerfile:' to its path relative to the stack file)"),
    ("missing-dockerfile", BASE + "    dockerfile: os/Dockerfile\n", ["a/Dockerfile"],
     "s/stack.yaml:7: Dockerfile s/os/Dockerfile does not exist "
     "(create it or set 'dockerfile:' to its path relative to the stack file)"),
    ("dockerfile-is-a-folder", BASE + "    dockerfile: a\n", ["a/Dockerfile"],
     "s/stack.yaml:7: Dockerfile s/a is a folder, not a file "
     "(create it or set 'dockerfile:' to its path relative to the stack file)"),
    ("dockerfile-outside", BASE + "    dockerfile: ../../etc/Dockerfile\n", None,
     "s/stack.yaml:7: Dockerfile '../../etc/Dockerfile' is outside the repository "
     "(keep Dockerfiles inside the repository, without ',' in the path)"),
    ("dockerfile-absolute-outside", BASE + "    dockerfile: /etc/passwd\n", None,
     "s/stack.yaml:7: Dockerfile '/etc/passwd' is outside the repository "
     "(keep Dockerfiles inside the repository, without ',' in the path)"),
    ("dockerfile-with-comma", BASE + "    dockerfile: 'a,b/Dockerfile'\n", None,
     "s/stack.yaml:7: Dockerfile 'a,b/Dockerfile' is outside the repository "
     "(keep Dockerfiles inside the repository, without ',' in the path)"),
    ("dockerfile-in-git-metadata", BASE + "    dockerfile: .git/config\n", ["a/Dockerfile", ".git/config"],
     "s/stack.yaml:7: Dockerfile '.git/config' is in git's own files (.git), where CI keeps credentials "
     "(keep Dockerfiles in the work tree)"),
    # a context that is (or lies in) a .git folder sends git's files under other names (config, not
    # .git/config), so the context's own walk cannot see them: the node's line refuses it
    ("context-is-git-metadata", BASE + "    context: ../.git\n", ["a/Dockerfile", "../.git/config"],
     "s/stack.yaml:7: build context '../.git' is in git's own files (.git), where CI keeps credentials "
     "(use a folder of the work tree)"),
    ("context-in-git-metadata", BASE + "    context: .git/modules\n", ["a/Dockerfile", ".git/modules/x"],
     "s/stack.yaml:7: build context '.git/modules' is in git's own files (.git), where CI keeps "
     "credentials (use a folder of the work tree)"),
    ("context-outside", BASE + "    context: ../../etc\n", None,
     "s/stack.yaml:7: build context '../../etc' is outside the repository "
     "(use a folder inside the repository, without ',' in the path)"),
    ("context-with-comma", BASE + "    context: 'a,src=/'\n", None,
     "s/stack.yaml:7: build context 'a,src=/' is outside the repository "
     "(use a folder inside the repository, without ',' in the path)"),
    ("context-not-a-folder", BASE + "    context: a/Dockerfile\n", None,
     f"s/stack.yaml:7: build context 'a/Dockerfile' is not a folder {SCHEMA}"),
    ("bad-node-arg-name", BASE + "    args:\n      OK: 1\n      1A: x\n", None,
     "s/stack.yaml:9: build arg name '1A' must be a letter or '_' followed by letters, digits "
     "or '_' (fix the build arg)"),
    ("bad-stack-arg-name", BASE.replace("nodes:", "args: {A-B: x}\nnodes:"), None,
     "s/stack.yaml:3: build arg name 'A-B' must be a letter or '_' followed by letters, digits "
     "or '_' (fix the build arg)"),
    ("bad-dev-arg-name", BASE + "dev:\n  dockerfile: a/Dockerfile\n  args:\n    9: x\n", None,
     "s/stack.yaml:10: build arg name '9' must be a letter or '_' followed by letters, digits "
     "or '_' (fix the build arg)"),
    ("multi-line-arg", BASE + '    args:\n      A: "x\\ny"\n', None,
     "s/stack.yaml:8: build arg A must be a single line (fix the build arg)"),
    ("null-arg", BASE + "    args:\n      A:\n", None,
     "s/stack.yaml:8: 'args.A' must be a string or number (quote the value)"),
    ("bool-arg", BASE + "    args: {A: true}\n", None,
     "s/stack.yaml:7: 'args.A' must be a string or number (quote the value)"),
    ("args-not-mapping", BASE + "    args: [A=1]\n", None,
     "s/stack.yaml:7: 'args' must be a mapping of NAME: value (write 'args: {NAME: value}')"),
    ("secret-env-and-src",
     BASE + "    secrets:\n      - id: tok\n        env: TOKEN\n        src: /run/tok\n", None,
     f"s/stack.yaml:8: secret 'tok' needs exactly one of 'env' or 'src' {SCHEMA}"),
    ("secret-neither", BASE + "    secrets:\n      - id: tok\n", None,
     f"s/stack.yaml:8: secret 'tok' needs exactly one of 'env' or 'src' {SCHEMA}"),
    ("stack-secret-neither",
     BASE.replace("nodes:", "secrets:\n  - {id: a, env: A}\n  - id: b\nnodes:"), None,
     f"s/stack.yaml:5: secret 'b' needs exactly one of 'env' or 'src' {SCHEMA}"),
    ("secret-listed-twice",
     BASE + "    secrets:\n      - {id: tok, env: A}\n      - {id: tok, env: B}\n", None,
     "s/stack.yaml:9: secret 'tok' is listed twice (give each secret its own id)"),
    ("axis-value-listed-twice", BASE + "    axes:\n      v: [x, y, x]\n", None,
     "s/stack.yaml:8: value 'x' of axis 'v' is listed twice (list each value once)"),
    ("parent-listed-twice", BASE + "    parent: [p, q, p]\n", None,
     "s/stack.yaml:7: parent 'p' is listed twice (list each parent once)"),
    ("no-platform", BASE + "    platforms: []\n", None,
     "s/stack.yaml:7: 'platforms' lists no platform "
     "(name at least one (linux/amd64, linux/arm64), or drop the key for the default)"),
    ("stack-lists-no-platform", BASE.replace("nodes:", "platforms: []\nnodes:"), None,
     "s/stack.yaml:3: 'platforms' lists no platform "
     "(name at least one (linux/amd64, linux/arm64), or drop the key for the default)"),
    ("secret-without-id", BASE + "    secrets:\n      - env: TOKEN\n", None,
     "s/stack.yaml:8: a secret needs 'id' (add 'id: ...')"),
    ("secret-bad-env", BASE + "    secrets: [{id: t, env: 'MY-TOKEN'}]\n", None,
     f"s/stack.yaml:7: env 'MY-TOKEN' is not a variable name {SCHEMA}"),
    ("secret-bad-id", BASE + "    secrets: [{id: 't/x', env: T}]\n", None,
     f"s/stack.yaml:7: secret id 't/x' may use only [A-Za-z0-9_.-] {SCHEMA}"),
    ("secrets-not-list", BASE + "    secrets: {id: t, env: T}\n", None,
     f"s/stack.yaml:7: 'secrets' must be a list of {{id, env}} or {{id, src}} {SCHEMA}"),
    ("dev-except-unknown", BASE + "dev:\n  dockerfile: a/Dockerfile\n  except: [a, zz]\n", None,
     "s/stack.yaml:9: dev.except names unknown node 'zz' (known: a)"),
    ("dev-except-unknown-block",
     BASE + "dev:\n  dockerfile: a/Dockerfile\n  except:\n    - a\n    - zz\n", None,
     "s/stack.yaml:11: dev.except names unknown node 'zz' (known: a)"),
    ("dev-without-dockerfile", BASE + "dev:\n  suffix: -dbg\n", None,
     "s/stack.yaml:7: 'dev' needs 'dockerfile' (add 'dockerfile: ...')"),
    ("dev-dockerfile-outside", BASE + "dev:\n  dockerfile: ../../etc/Dockerfile\n", None,
     "s/stack.yaml:8: Dockerfile '../../etc/Dockerfile' is outside the repository "
     "(keep Dockerfiles inside the repository, without ',' in the path)"),
    ("dev-tag-too-long", BASE.replace('tag: "1"', "tag: " + "t" * 126)
     + "dev:\n  dockerfile: a/Dockerfile\n", None,
     f"s/stack.yaml:4: tag '{'t' * 126}-dev' is not a valid OCI tag {TAG_RULE} "
     "(shorten the node's tag)"),
    ("missing-nodes", "stack: s\nregistry: r\n", None,
     "s/stack.yaml:1: a stack needs a 'nodes' mapping (add 'nodes:' with at least one node)"),
    ("empty-nodes", "stack: s\nregistry: r\nnodes: {}\n", None,
     "s/stack.yaml:3: a stack needs a 'nodes' mapping (add 'nodes:' with at least one node)"),
    ("nodes-as-list", "stack: s\nregistry: r\nnodes:\n  - a\n", None,
     "s/stack.yaml:3: a stack needs a 'nodes' mapping (add 'nodes:' with at least one node)"),
    ("missing-stack", "# header\nregistry: r\nnodes: {}\n", None,
     "s/stack.yaml:2: a stack file needs 'stack' (add 'stack: ...')"),
    ("missing-registry", "stack: s\nnodes: {}\n", None,
     "s/stack.yaml:1: a stack file needs 'registry' (add 'registry: ...')"),
    ("bad-registry", BASE.replace("localhost:5000/demo", "Bad Host"), None,
     "s/stack.yaml:2: registry 'Bad Host' must look like host[:port][/path] "
     f"(e.g. localhost:5000/demo) {SCHEMA}"),
    ("bad-stack-name", BASE.replace("stack: s", "stack: My Stack"), None,
     "s/stack.yaml:1: name 'My Stack' must be lower-case letters and digits separated by '.', "
     f"'_' or '-' {SCHEMA}"),
    ("bad-node-name", BASE.replace("  a:", "  Big:"), None,
     "s/stack.yaml:4: name 'Big' must be lower-case letters and digits separated by '.', "
     "'_' or '-' (rename the node)"),
    ("bad-parent-name", BASE + "    parent: Os\n", None,
     "s/stack.yaml:7: name 'Os' must be lower-case letters and digits separated by '.', "
     f"'_' or '-' {SCHEMA}"),
    ("bad-image", BASE + "    image: My/Image\n", None,
     "s/stack.yaml:7: image 'My/Image' is not a valid repository name "
     f"(lower-case, digits, '.', '_', '-', '/') {SCHEMA}"),
    ("bad-target", BASE + "    target: -stage\n", None,
     f"s/stack.yaml:7: target '-stage' is not a stage name {SCHEMA}"),
    ("node-not-mapping", "stack: s\nregistry: r\nnodes:\n  a: os\n", None,
     f"s/stack.yaml:4: node 'a' must be a mapping, got str {NOT_MAPPING_HINT}"),
    ("file-not-mapping", "- stack: s\n", None,
     f"s/stack.yaml:1: a stack file must be a mapping, got list {NOT_MAPPING_HINT}"),
    ("unsplittable-test", BASE + "    test: echo 'oops\n", None,
     "s/stack.yaml:7: 'test' cannot be split into arguments: No closing quotation "
     "(close the quote, or write the command as a list)"),
    ("test-item-not-text", BASE + "    test: [echo, {a: 1}]\n", None,
     "s/stack.yaml:7: 'test' item 2 must be a string (write 'test: [a, b]')"),
    ("duplicate-yaml-key", BASE + '    tag: "2"\n', None,
     "s/stack.yaml:7: duplicate key 'tag' (each key may appear once in a mapping)"),
    ("yaml-syntax", BASE + "    tag: a: b\n", None,
     "s/stack.yaml:7: invalid YAML: mapping values are not allowed in this context (fix the YAML syntax)"),
    # an attr's lines would reach build args ('ARG A="1' then 'RUN id' in `export meta`), labels, tests
    ("attr-value-on-several-lines", BASE + "    attrs:\n      x: |\n        1\n        RUN id\n", None,
     "s/stack.yaml:8: attrs.x: '1\\nRUN id\\n' contains the control character U+000A "
     "(write the value on one line, without control characters)"),
    ("attr-value-with-a-tab", BASE + "    attrs: {x: 'a\tb'}\n", None,
     "s/stack.yaml:7: attrs.x: 'a\\tb' contains the control character U+0009 "
     "(write the value on one line, without control characters)"),
    # the file's bytes are checked for control characters; a quoted scalar's escapes make them anyway
    ("escaped-control-character", BASE + '    args: {A: "x\\e[2Jy"}\n', None,
     "s/stack.yaml:7: control character U+001B is not allowed in a stack file value "
     "(remove the escape; write tabs and newlines as they are)"),
    # constraints read 'ｘ' as 'x' (Python normalises names, NFKC), templates as 'ｘ'
    ("non-ascii-attr-name", BASE + "    attrs: {ｘ: '1'}\n", None,
     "s/stack.yaml:7: attribute name 'ｘ' must be a letter or '_' followed by letters, digits or '_' "
     + SCHEMA),
    ("numeric-axis-name", BASE + "    axes: {1: [a]}\n", None,
     "s/stack.yaml:7: attribute name '1' must be a letter or '_' followed by letters, digits or '_' "
     "(rename the axis)"),
    ("numeric-include-key", BASE + "    include: [{1: a}]\n", None,
     "s/stack.yaml:7: attribute name '1' must be a letter or '_' followed by letters, digits or '_' "
     "(rename the attribute)"),
]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A real folder next to the repository, so 'outside' errors are not 'missing' errors."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "Dockerfile").write_text("FROM scratch\n")
    return etc


@pytest.mark.parametrize(("text", "dockerfiles", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in ERRORS])
def test_bad_input_is_a_stack_error_at_the_offending_line(
        error: Error, outside: Path, text: str, dockerfiles: list[str] | None,
        expected: str) -> None:
    assert error(text, dockerfiles=dockerfiles) == expected


# The package promises "every error says where, what, and how to fix it".
@pytest.mark.parametrize(("text", "dockerfiles"),
                         [pytest.param(*case[1:3], id=case[0]) for case in ERRORS])
def test_every_error_has_a_location_and_a_hint(
        root: Path, write_stack: Callable[..., Path], outside: Path, text: str,
        dockerfiles: list[str] | None) -> None:
    with pytest.raises(StackError) as caught:
        expand([load_stack(root, write_stack(text, dockerfiles=dockerfiles))])
    assert caught.value.location is not None
    assert caught.value.location.file == "s/stack.yaml"
    assert caught.value.location.line > 0
    assert caught.value.hint != ""


def test_errors_name_the_file_relative_to_the_root(root: Path, write_stack: Callable[..., Path]
                                                   ) -> None:
    file = write_stack(BASE.replace("kind: os", "kind: vm"), folder="stacks/demo")
    with pytest.raises(StackError) as caught:
        load_stack(root, file)
    assert str(caught.value).startswith("stacks/demo/stack.yaml:5: unknown kind 'vm'")
    assert caught.value.location == Location("stacks/demo/stack.yaml", 5)


def test_empty_file_needs_stack_and_names_the_whole_file(error: Error) -> None:
    assert error("# nothing yet\n") == "s/stack.yaml: a stack file needs 'stack' (add 'stack: ...')"


def test_missing_file_cannot_be_read(root: Path) -> None:
    with pytest.raises(StackError) as caught:
        load_stack(root, root / "nope" / "stack.yaml")
    assert str(caught.value) == ("nope/stack.yaml:1: cannot read stack file: No such file or directory "
                                 "(name a readable stack.yaml file)")


def test_non_utf8_file_cannot_be_read(root: Path) -> None:
    (root / "s").mkdir()
    (root / "s" / "stack.yaml").write_bytes(b"stack: s\nregistry: \xff\n")
    with pytest.raises(StackError) as caught:
        load_stack(root, root / "s" / "stack.yaml")
    assert str(caught.value) == "s/stack.yaml:2: byte 0xff is not UTF-8 text (save the file as UTF-8)"


# --- once-known bugs, now fixed -----------------------------------------------------------------


def test_numeric_node_name_is_loaded(load: Load) -> None:
    loaded = load("stack: s\nregistry: r\nnodes:\n  12:\n    kind: os\n    tag: x\n")
    assert [definition.name for definition in loaded.stack.definitions] == ["12"]
    assert [node.name for node in loaded.nodes] == ["12"]


def test_unquoted_decimal_tag_keeps_its_spelling(load: Load) -> None:
    assert load(BASE.replace('tag: "1"', "tag: 1.10")).nodes[0].tag == "1.10"


def test_tag_with_trailing_newline_is_rejected(error: Error) -> None:
    assert error(BASE.replace('tag: "1"', "tag: |\n      latest\n")) == (
        f"s/stack.yaml:6: tag 'latest\\n' is not a valid OCI tag {TAG_RULE} "
        "(shorten the tag or change the values it is made of)")


def test_dev_suffix_that_makes_a_bad_node_name_is_rejected(error: Error) -> None:
    assert error(BASE + "dev:\n  dockerfile: a/Dockerfile\n  suffix: -Dev\n") == (
        "s/stack.yaml:9: suffix '-Dev' must start with '-', '_' or '.' and use lower-case letters and digits "
        f"{SCHEMA}")


# --- what a node gets ---------------------------------------------------------------------------


def test_minimal_node(load: Load) -> None:
    loaded = load(BASE)
    assert loaded.stack == Stack("s", "s/stack.yaml", "localhost:5000/demo", DEFAULT_PLATFORMS, (Definition(
        name="a", stack="s", kind="os", parents=(), registry="localhost:5000/demo", image="a", tag="1",
        convention="", dockerfile="s/a/Dockerfile", context="s/a", default_platforms=DEFAULT_PLATFORMS,
        location=Location("s/stack.yaml", 4), lines=(("tag", Location("s/stack.yaml", 6)),)),))
    assert loaded.stack.definitions[0].at("tag") == Location("s/stack.yaml", 6)
    assert loaded.stack.definitions[0].at("args") == Location("s/stack.yaml", 4)  # not written: the node
    assert loaded.nodes == [Node(
        name="a", stack="s", kind="os", parent=None, dockerfile="s/a/Dockerfile", context="s/a",
        registry="localhost:5000/demo", image="a", tag="1", platforms=DEFAULT_PLATFORMS,
        attrs=(("layer", "os"),), definition="a",
        location=Location("s/stack.yaml", 4))]
    assert loaded.nodes[0].ref == "localhost:5000/demo/a:1"


def test_provenance_is_max_unless_the_stack_says_otherwise(load: Load) -> None:
    assert by_name(load(BASE))["a"].provenance == "max"
    assert by_name(load("provenance: off\n" + BASE))["a"].provenance == "off"
    assert by_name(load("provenance: min\n" + BASE))["a"].provenance == "min"


def test_default_platforms_are_amd64_and_arm64(load: Load) -> None:
    loaded = load(BASE)
    assert loaded.stack.platforms == ("linux/amd64", "linux/arm64")
    assert loaded.nodes[0].platforms == ("linux/amd64", "linux/arm64")


def test_stack_platforms_are_the_default_for_nodes(load: Load) -> None:
    loaded = load(BASE.replace("nodes:", "platforms: [linux/arm64, linux/arm/v7]\nnodes:"))
    assert loaded.stack.platforms == ("linux/arm64", "linux/arm/v7")
    assert loaded.stack.definitions[0].platforms == ()  # none of its own
    assert loaded.stack.definitions[0].default_platforms == ("linux/arm64", "linux/arm/v7")
    assert loaded.nodes[0].platforms == ("linux/arm64", "linux/arm/v7")  # resolved by expansion


def test_platforms_may_be_a_single_string(load: Load) -> None:
    assert load(BASE + "    platforms: linux/amd64\n").nodes[0].platforms == ("linux/amd64",)


def test_image_defaults_to_node_name(load: Load) -> None:
    assert load(BASE).nodes[0].image == "a"
    assert load(BASE + "    image: org/base\n").nodes[0].image == "org/base"


def test_dockerfile_defaults_to_name_slash_dockerfile(load: Load) -> None:
    node = load(BASE.replace("  a:", "  my-os:")).nodes[0]
    assert (node.dockerfile, node.context) == ("s/my-os/Dockerfile", "s/my-os")


def test_context_defaults_to_the_dockerfile_folder(load: Load) -> None:
    node = load(BASE + "    dockerfile: os/debian/Dockerfile\n").nodes[0]
    assert (node.dockerfile, node.context) == ("s/os/debian/Dockerfile", "s/os/debian")


def test_dockerfile_next_to_the_stack_file_has_the_stack_folder_as_context(load: Load) -> None:
    node = load(BASE + "    dockerfile: Dockerfile.os\n").nodes[0]
    assert (node.dockerfile, node.context) == ("s/Dockerfile.os", "s")


def test_explicit_context_is_relative_to_the_stack_file(load: Load) -> None:
    node = load(BASE + "    dockerfile: os/Dockerfile\n    context: .\n").nodes[0]
    assert (node.dockerfile, node.context) == ("s/os/Dockerfile", "s")
    assert load(BASE + "    context: ..\n").nodes[0].context == "."


def test_dockerfile_may_climb_within_the_repository(load: Load, root: Path) -> None:
    (root / "shared").mkdir()
    (root / "shared" / "Dockerfile").write_text("FROM scratch\n")
    node = load(BASE + "    dockerfile: ../shared/Dockerfile\n").nodes[0]
    assert (node.dockerfile, node.context) == ("shared/Dockerfile", "shared")


def test_numbers_are_accepted_as_text(load: Load) -> None:
    assert load(BASE.replace('tag: "1"', "tag: 12")).nodes[0].tag == "12"


def test_parent_and_target_are_read(load: Load) -> None:
    loaded = load(BASE + "    parent: base\n    target: runtime\n"
                  + '  base:\n    kind: os\n    image: b\n    tag: "1"\n')
    assert (loaded.stack.definitions[0].parents, loaded.stack.definitions[0].target) == (
        ("base",), "runtime")
    node = loaded.by_name()["a"]
    assert (node.parent, node.target) == ("base", "runtime")


def test_definitions_keep_file_order_and_location(load: Load) -> None:
    text = BASE + '  c:\n    kind: sdk\n    tag: "1"\n  b:\n    kind: llm\n    tag: "1"\n'
    loaded = load(text)
    assert [(d.name, d.kind, d.location.line) for d in loaded.stack.definitions] == [
        ("a", "os", 4), ("c", "sdk", 7), ("b", "llm", 10)]
    # expanded parents first, then by name; each node keeps its definition's line
    assert [(n.name, n.kind, n.location.line) for n in loaded.nodes] == [
        ("a", "os", 4), ("b", "llm", 10), ("c", "sdk", 7)]


def test_stack_args_merge_with_node_args_and_node_wins(load: Load) -> None:
    text = BASE.replace("nodes:", "args: {A: '1', B: '2'}\nnodes:")
    text += "    args:\n      C: x\n      B: 3\n"
    assert load(text).nodes[0].args == (("A", "1"), ("B", "3"), ("C", "x"))


def test_stack_args_reach_every_node(load: Load) -> None:
    text = BASE.replace("nodes:", "args: {A: '1'}\nnodes:") + '  b:\n    kind: os\n    tag: "2"\n'
    assert [node.args for node in load(text).nodes] == [(("A", "1"),), (("A", "1"),)]


def test_stack_secrets_merge_with_node_secrets_by_id(load: Load) -> None:
    text = BASE.replace("nodes:", "secrets:\n  - {id: ca, src: /etc/ca.crt}\n"
                                  "  - {id: tok, env: TOKEN}\nnodes:")
    text += "    secrets:\n      - {id: tok, src: /run/tok}\n      - {id: aa, env: AA}\n"
    assert load(text).nodes[0].secrets == (
        Secret("aa", env="AA"), Secret("ca", src="/etc/ca.crt"), Secret("tok", src="/run/tok"))


def test_stack_secrets_reach_nodes_without_their_own(load: Load) -> None:
    text = BASE.replace("nodes:", "secrets: [{id: ca, src: /etc/ca.crt}]\nnodes:")
    assert load(text).nodes[0].secrets == (Secret("ca", src="/etc/ca.crt"),)


def test_a_secret_remembers_the_line_of_its_source(load: Load) -> None:
    text = BASE.replace("nodes:", "secrets:\n  - id: ca\n    src: /etc/ca.crt\nnodes:")
    text += "    secrets: [{id: tok, env: TOKEN}]\n"
    assert [secret.location for secret in load(text).nodes[0].secrets] == [
        Location("s/stack.yaml", 5), Location("s/stack.yaml", 10)]


def test_test_string_is_split_like_a_shell_would(load: Load) -> None:
    text = BASE + """    test: python3 -c "import sys; print(sys.version)"  'a  b' c\\ d\n"""
    assert load(text).nodes[0].test == (
        "python3", "-c", "import sys; print(sys.version)", "a  b", "c d")


def test_test_list_is_kept_as_argv(load: Load) -> None:
    text = BASE + "    test: [sh, -c, 'echo \"$HOME\"  x', 3]\n"
    assert load(text).nodes[0].test == ("sh", "-c", 'echo "$HOME"  x', "3")


def test_no_test_is_empty(load: Load) -> None:
    assert load(BASE).nodes[0].test == ()


def test_yaml_merge_keys_share_node_settings(load: Load) -> None:
    text = ("stack: s\nregistry: r\nnodes:\n  a: &common\n    kind: os\n    tag: '1'\n"
            "  b:\n    <<: *common\n    parent: a\n    image: b2\n")
    b = by_name(load(text))["b"]
    assert (b.kind, b.tag, b.parent, b.image) == ("os", "1", "a", "b2")
    assert b.location == Location("s/stack.yaml", 7)


# --- the -dev rule ------------------------------------------------------------------------------

DEV = """\
stack: s
registry: r
args: {BASE: '1'}
secrets: [{id: ca, src: /etc/ca.crt}]
nodes:
  os:
    kind: os
    tag: '12'
    test: cat /etc/os-release
    platforms: [linux/amd64]
  sdk:
    kind: sdk
    parent: os
    image: tools
    tag: py311
    target: runtime
    args: {ONLY_SDK: x}
    secrets: [{id: tok, env: TOKEN}]
dev:
  dockerfile: dev/Dockerfile
  args: {PYTEST: '8'}
"""


def test_every_node_gets_a_dev_sibling_after_the_defined_nodes(load: Load) -> None:
    assert [node.name for node in load(DEV).nodes] == ["os", "sdk", "os-dev", "sdk-dev"]


def test_dev_node_is_built_from_its_origin(load: Load) -> None:
    nodes = by_name(load(DEV))
    sdk, dev = nodes["sdk"], nodes["sdk-dev"]
    assert dev == Node(
        name="sdk-dev", stack="s", kind="sdk", parent="sdk", dockerfile="s/dev/Dockerfile",
        context="s/dev", registry="r", image="tools", tag="py311-dev", platforms=("linux/amd64",),
        args=(("BASE", "1"), ("PYTEST", "8")), target="", test=(),
        secrets=(Secret("ca", src="/etc/ca.crt"),), variant="dev",
        attrs=(("layer", "sdk"), ("scope", "develop"), ("sdk", "sdk")),
        definition="sdk", location=Location("s/stack.yaml", 19))
    assert dev.image == sdk.image
    assert dev.ref == "r/tools:py311-dev"
    assert sdk.variant == ""


def test_dev_node_inherits_its_origins_test(load: Load) -> None:
    nodes = by_name(load(DEV))
    assert nodes["os-dev"].test == ("cat", "/etc/os-release")
    assert nodes["sdk-dev"].test == ()


def test_dev_test_overrides_the_origins(load: Load) -> None:
    nodes = by_name(load(DEV + "  test: pytest -q --co\n"))
    assert nodes["os-dev"].test == ("pytest", "-q", "--co")
    assert nodes["sdk-dev"].test == ("pytest", "-q", "--co")
    assert nodes["os"].test == ("cat", "/etc/os-release")


def test_dev_siblings_get_their_origins_platforms(load: Load) -> None:
    nodes = by_name(load(DEV))
    assert {name: node.platforms for name, node in nodes.items()} == {
        "os": ("linux/amd64",), "sdk": ("linux/amd64",),
        "os-dev": ("linux/amd64",), "sdk-dev": ("linux/amd64",)}


def test_dev_rule_is_kept_on_the_stack(load: Load) -> None:
    assert load(DEV + "  except: [os]\n").stack.dev == DevRule(
        dockerfile="s/dev/Dockerfile", context="s/dev", suffix="-dev",
        args=(("BASE", "1"), ("PYTEST", "8")), secrets=(Secret("ca", src="/etc/ca.crt"),),
        excepted=("os",), location=Location("s/stack.yaml", 19))
    assert load(DEV.split("dev:")[0]).stack.dev is None


def test_dev_except_is_honoured(load: Load) -> None:
    assert [n.name for n in load(DEV + "  except: [os]\n").nodes] == ["os", "sdk", "sdk-dev"]
    assert [n.name for n in load(DEV + "  except: sdk\n").nodes] == ["os", "sdk", "os-dev"]
    assert [n.name for n in load(DEV + "  except: [os, sdk]\n").nodes] == ["os", "sdk"]


def test_dev_custom_suffix(load: Load) -> None:
    nodes = load(DEV + "  suffix: -debug\n").nodes
    assert [(n.name, n.parent, n.tag) for n in nodes[2:]] == [
        ("os-debug", "os", "12-debug"), ("sdk-debug", "sdk", "py311-debug")]


def test_dev_context_target_and_secrets(load: Load, root: Path) -> None:
    (root / "s" / "tools").mkdir(parents=True)
    text = DEV + ("  context: tools\n  target: dev\n"
                  "  secrets: [{id: ca, env: CA}, {id: pip, src: p}]\n")
    dev = by_name(load(text))["os-dev"]
    assert (dev.dockerfile, dev.context, dev.target) == ("s/dev/Dockerfile", "s/tools", "dev")
    assert dev.secrets == (Secret("ca", env="CA"), Secret("pip", src="p"))


def test_dev_dockerfile_must_exist(error: Error) -> None:
    assert error(DEV, dockerfiles=["os/Dockerfile", "sdk/Dockerfile"]) == (
        "s/stack.yaml:20: Dockerfile s/dev/Dockerfile does not exist "
        "(create it or set 'dockerfile:' to its path relative to the stack file)")


def test_no_dev_section_means_no_dev_nodes(load: Load) -> None:
    text = DEV.split("dev:")[0]
    assert [n.name for n in load(text).nodes] == ["os", "sdk"]


@pytest.mark.parametrize("linked", ["stack.yaml", "folder"])
def test_a_stack_file_linked_from_outside_the_repository_is_refused(
        root: Path, tmp_path: Path, linked: str) -> None:
    """Its content would be read (and quoted in errors) from anywhere: ~/.docker/config.json, a token."""
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "stack.yaml").write_text(BASE, encoding="utf-8")
    (root / "s").mkdir()
    if linked == "folder":
        (root / "s" / "t").symlink_to(secret, target_is_directory=True)
    else:
        (root / "s" / "t").mkdir()
        (root / "s" / "t" / "stack.yaml").symlink_to(secret / "stack.yaml")
    with pytest.raises(StackError) as caught:
        load_stack(root, root / "s" / "t" / "stack.yaml")
    assert str(caught.value) == (
        f"s/t/stack.yaml:1: stack file is a symlink to {secret.resolve() / 'stack.yaml'}, outside the "
        "repository (keep stack files inside the repository: copy the file instead of linking it)")


def test_a_stack_file_linked_within_the_repository_is_loaded(root: Path, write_stack: Callable[..., Path]
                                                             ) -> None:
    real = write_stack(BASE, folder="real")
    (root / "s").mkdir()
    (root / "s" / "stack.yaml").symlink_to(real)
    assert [d.name for d in load_stack(root, root / "s" / "stack.yaml").definitions] == ["a"]
