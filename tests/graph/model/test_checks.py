"""graph.model.checks: pure checks of tags, names, images, registries, platforms, build args and paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from graph.model import checks

# --- tags ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", [
    "12",
    "cann7.0.RC1.alpha002-oe2203sp2",
    "_x",
    "latest",
    "A",
    "x" * 128,
    "1.0-dev",
    "a_b.c-D",
])
def test_valid_tags(tag: str) -> None:
    assert checks.tag_problem(tag) == ""


@pytest.mark.parametrize("tag", [
    "-x", ".x", "x" * 129, "a,b", "a b", "", "a:b", "a/b", "é", "a\tb",
])
def test_invalid_tags(tag: str) -> None:
    assert checks.tag_problem(tag) == (
        f"tag {tag!r} is not a valid OCI tag (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
    )


def test_invalid_tag_message_is_literal() -> None:
    assert checks.tag_problem("-x") == (
        "tag '-x' is not a valid OCI tag (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
    )


# --- node names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["debian", "python-sdk", "a.b_c-d", "x1", "12"])
def test_valid_names(name: str) -> None:
    assert checks.name_problem(name) == ""


@pytest.mark.parametrize("name", ["Debian", "-a", "a-", "a--b", "a b", "", "a/b", "a:b"])
def test_invalid_names(name: str) -> None:
    assert checks.name_problem(name) == (
        f"name {name!r} must be lower-case letters and digits separated by '.', '_' or '-'"
    )


# --- image (repository) names -------------------------------------------------------------------


@pytest.mark.parametrize("image", [
    "debian", "library/debian", "a__b", "a---b", "a.b_c-d", "org/team/image", "x" * 255,
])
def test_valid_images(image: str) -> None:
    assert checks.image_problem(image) == ""


@pytest.mark.parametrize("image", [
    "Debian", "-a", "a-", "a//b", "/a", "a/", "a___b", "a b", "a:1", "", "x" * 256,
])
def test_invalid_images(image: str) -> None:
    assert checks.image_problem(image) == (
        f"image {image!r} is not a valid repository name (lower-case, digits, '.', '_', '-', '/')"
    )


# --- registry prefixes --------------------------------------------------------------------------


@pytest.mark.parametrize("registry", [
    "localhost:5000/demo",
    "localhost:5000/stackbuild",
    "localhost",
    "ghcr.io/org/team",
    "registry.example.com:443",
    "10.0.0.1:5000/a-b",
    "r",
])
def test_valid_registries(registry: str) -> None:
    assert checks.registry_problem(registry) == ""


@pytest.mark.parametrize("registry", [
    "Bad Host",
    "localhost:5000/",
    "https://ghcr.io",
    "host:port",
    "ghcr.io/Org",
    "-host",
    "host-",
    "",
    "a..b",
    "host:123456",
])
def test_invalid_registries(registry: str) -> None:
    assert checks.registry_problem(registry) == (
        f"registry {registry!r} must look like host[:port][/path] (e.g. localhost:5000/demo)"
    )


# --- platforms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", list(checks.PLATFORMS))
def test_known_platforms(platform: str) -> None:
    assert checks.platform_problem(platform) == ""


def test_common_platforms_are_known() -> None:
    assert {"linux/amd64", "linux/arm64", "linux/arm/v7"} <= set(checks.PLATFORMS)


@pytest.mark.parametrize("platform", ["amd64", "linux/AMD64", "windows/amd64", "linux/amd64 ", ""])
def test_unknown_platforms(platform: str) -> None:
    assert checks.platform_problem(platform) == (
        f"platform {platform!r} is not supported (known: linux/amd64, linux/arm64, linux/arm/v7, "
        "linux/arm/v6, linux/ppc64le, linux/s390x, linux/riscv64, linux/386)"
    )


# --- build args ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [
    ("NUMPY_VERSION", "2.2.6"),
    ("_x", ""),
    ("a1", "with spaces and = signs"),
    ("X", "quotes ' \" and $dollars"),
])
def test_valid_build_args(key: str, value: str) -> None:
    assert checks.arg_problem(key, value) == ""


@pytest.mark.parametrize("key", ["1A", "A-B", "A B", "", "A=B", "Ä"])
def test_bad_build_arg_names(key: str) -> None:
    assert checks.arg_problem(key, "v") == (
        f"build arg name {key!r} must be a letter or '_' followed by letters, digits or '_'"
    )


@pytest.mark.parametrize("value", ["a\nb", "a\n", "\n", "a\0b"])
def test_build_arg_values_must_be_one_line(value: str) -> None:
    assert checks.arg_problem("VERSION", value) == "build arg VERSION must be a single line"


def test_bad_name_is_reported_before_bad_value() -> None:
    assert checks.arg_problem("1A", "a\nb").startswith("build arg name '1A'")


# --- trailing newlines must not slip through (fullmatch, not `$`) -------------------------------


@pytest.mark.parametrize("problem", [
    lambda: checks.tag_problem("latest\n"),
    lambda: checks.name_problem("debian\n"),
    lambda: checks.image_problem("debian\n"),
    lambda: checks.registry_problem("localhost:5000/demo\n"),
    lambda: checks.arg_problem("VERSION\n", "1"),
], ids=["tag", "name", "image", "registry", "arg-name"])
def test_a_trailing_newline_is_rejected(problem: Callable[[], str]) -> None:
    assert problem() != ""


# --- inside() -----------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "stacks" / "a").mkdir(parents=True)
    return root


def test_inside_resolves_relative_paths(repo: Path) -> None:
    assert checks.inside(repo, "stacks/a/Dockerfile") == (repo / "stacks/a/Dockerfile").resolve()
    assert checks.inside(repo, "stacks/a/../b") == (repo / "stacks/b").resolve()


def test_inside_accepts_the_root_itself(repo: Path) -> None:
    assert checks.inside(repo, ".") == repo.resolve()
    assert checks.inside(repo, "stacks/..") == repo.resolve()


@pytest.mark.parametrize("relative", ["..", "../x", "stacks/../../x", "stacks/a/../../../etc",
                                      "../repo2/Dockerfile", "../repo/../x"])
def test_inside_rejects_escapes(repo: Path, relative: str) -> None:
    (repo.parent / "repo2").mkdir()
    (repo.parent / "repo2" / "Dockerfile").write_text("FROM scratch\n")
    assert checks.inside(repo, relative) is None


def test_inside_rejects_absolute_paths_outside_the_root(repo: Path) -> None:
    assert checks.inside(repo, "/etc/passwd") is None
    assert checks.inside(repo, str(repo.parent)) is None


def test_inside_accepts_absolute_paths_inside_the_root(repo: Path) -> None:
    assert checks.inside(repo, str(repo / "stacks")) == (repo / "stacks").resolve()


@pytest.mark.parametrize("relative", ["a,b", "stacks/a,src=/etc", ",", "a\nb", "a\0b"])
def test_inside_rejects_separators_buildx_would_misread(repo: Path, relative: str) -> None:
    assert checks.inside(repo, relative) is None


def test_inside_rejects_symlinks_out_of_the_root(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (repo / "link").symlink_to(tmp_path / "outside")
    assert checks.inside(repo, "link") is None
    assert checks.inside(repo, "link/Dockerfile") is None


def test_inside_does_not_need_the_path_to_exist(repo: Path) -> None:
    assert checks.inside(repo, "nope/Dockerfile") == (repo / "nope/Dockerfile").resolve()


# --- values from flags and the environment ------------------------------------------------------


@pytest.mark.parametrize("value", ["plain", "stacks/demo", "numpy-*", "é ü 中", "a,b", ""])
def test_values_without_control_characters_pass(value: str) -> None:
    assert checks.control_problem(value) == ""


@pytest.mark.parametrize(("value", "code"), [
    ("a\nb", "000A"), ("\x1b[2J", "001B"), ("x\x00", "0000"), ("x\x7f", "007F"), ("\x9b31m", "009B"),
    ("a\tb", "0009"), ("abc\u202edcba", "202E"), ("\u2066x", "2066"),
])
def test_control_and_bidi_characters_are_named(value: str, code: str) -> None:
    assert checks.control_problem(value) == f"{value!r} contains the control character U+{code}"


@pytest.mark.parametrize("registry", [
    "localhost:5000/demo", "Registry.Example.com:5000/team", "10.0.0.1:5000/a-b/c_d", "ghcr.io/org/team",
])
def test_good_registry_prefixes(registry: str) -> None:
    assert checks.registry_prefix_problem(registry) == ""


@pytest.mark.parametrize(("registry", "problem"), [
    ("localhost:5000/x,10.9.9.9:5000/y",
     "registry 'localhost:5000/x,10.9.9.9:5000/y' contains ',' "
     "(one registry prefix only; buildx splits on ',')"),
    ("localhost:5000/x y", "registry 'localhost:5000/x y' contains white space"),
    ("http://localhost:5000",
     "registry 'http://localhost:5000' has a scheme: give host[:port][/path] without http://"),
    ("ghcr.io/Org", "registry 'ghcr.io/Org': the path after the host must be lower case"),
    ("h/" + "x" * 199, "registry prefix is 201 characters long (at most 200)"),
    ("localhost:5000/x\r", "'localhost:5000/x\\r' contains the control character U+000D"),
    ("-host", "registry '-host' must look like host[:port][/path] (e.g. localhost:5000/demo)"),
])
def test_bad_registry_prefixes_name_the_rule_they_break(registry: str, problem: str) -> None:
    assert checks.registry_prefix_problem(registry) == problem


@pytest.mark.parametrize("ref", ["main", "origin/main", "HEAD~3", "v1.2.0", "a1b2c3d", "HEAD^{commit}",
                                 "@{u}"])
def test_good_git_refs(ref: str) -> None:
    assert checks.git_ref_problem(ref) == ""


@pytest.mark.parametrize(("ref", "problem"), [
    ("", "the git ref is empty"),
    ("-p", "git ref '-p' starts with '-' (git would read it as an option)"),
    ("--output=/tmp/x", "git ref '--output=/tmp/x' starts with '-' (git would read it as an option)"),
    ("main branch", "git ref 'main branch' is not a commit, branch or tag name"),
    ("x" * 256, f"git ref '{'x' * 256}' is not a commit, branch or tag name"),
    ("main\n", "'main\\n' contains the control character U+000A"),
])
def test_bad_git_refs(ref: str, problem: str) -> None:
    assert checks.git_ref_problem(ref) == problem
