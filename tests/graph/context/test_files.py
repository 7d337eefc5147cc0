"""graph.context.files: .dockerignore semantics (as BuildKit's context transfer applies them), visible
files and fingerprints."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from graph.context import files as context
from graph.context.dockerignore import ignore_file, is_ignored, read_ignore_patterns
from graph.context.files import (
    ContextFile,
    context_digest,
    files_matching,
    list_context,
)
from graph.errors import StackError
from tests.graph.context.contexts import paths, write

HELLO = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"  # b"hello\n"
EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # b""
LINK_TO_APP = "sha256:4ff1dc0c60cfca3874af7716b0a3f09f8849bc322d718bab2e6f1c447539388c"  # b"symlink\0app.py"
TEXT_APP = "sha256:568470d013cd12e4f388206520da39ab9a4e4c3c6b95846cbc281abc1ba3c959"  # b"app.py"


def digest_of(root: Path, patterns: tuple[str, ...] = ()) -> str:
    """The context digest of root."""
    return context_digest(list_context(root, patterns))


# --- is_ignored: the semantics table ------------------------------------------------------------


@pytest.mark.parametrize(("patterns", "path", "expected"), [
    # '*' does not cross '/', and nothing is implicitly anchored anywhere but the root.
    (("*.log",), "app.log", True),
    (("*.log",), "sub/app.log", False),
    (("*.log",), "app.log.txt", False),
    # '**' matches any number of directories, including none.
    (("**/*.pyc",), "a.pyc", True),
    (("**/*.pyc",), "x/y/a.pyc", True),
    (("**/*.pyc",), "x/a.pyc.bak", False),
    (("a/**/b",), "a/b", True),
    (("a/**/b",), "a/x/y/b", True),
    (("a/**/b",), "a/xb", False),
    (("**",), "any/deep/file", True),
    (("build/**",), "build/x/y", True),
    (("build/**",), "build", False),
    # A pattern matching a directory excludes everything below it (parents are matched too).
    (("build",), "build", True),
    (("build",), "build/x/y", True),
    (("build",), "builder/x", False),
    (("build",), "src/build", False),
    (("build/",), "build/x", True),
    (("/build",), "build/x", False),  # is_ignored takes patterns as-is: only the file parser strips '/'
    (("./build",), "build/x", True),  # ... but patterns are filepath.Clean-ed like patternmatcher.New does
    (("dir/*",), "dir/sub/deep.txt", True),
    # Go filepath.Match pieces: '?', classes, negated classes, escapes, regexp characters taken literally.
    (("temp?",), "tempa", True),
    (("temp?",), "temp", False),
    (("temp?",), "tempab", False),
    (("*/temp*",), "somedir/temporary.txt", True),
    (("*/temp*",), "temporary.txt", False),
    (("*/*/temp*",), "a/b/temp", True),
    (("[a-c].txt",), "b.txt", True),
    (("[a-c].txt",), "d.txt", False),
    (("[^a].txt",), "a.txt", False),
    (("[^a].txt",), "z.txt", True),
    (("\\*.txt",), "*.txt", True),
    (("\\*.txt",), "a.txt", False),
    (("a.b",), "axb", False),
    (("file(1)*",), "file(1).txt", True),
    (("a+b|c",), "a+b|c", True),
    # moby quirks kept on purpose: 'x**' is a plain prefix, '**x' a plain suffix.
    (("foo**",), "foobar/x", True),
    (("**foo",), "barfoo", True),
    # Exceptions: patterns are evaluated in order and the last match wins.
    (("build", "!build/keep.txt"), "build/keep.txt", False),
    (("build", "!build/keep.txt"), "build/other.txt", True),
    (("build/**", "!build/keep.txt"), "build/keep.txt", False),
    (("build/**", "!build/keep.txt"), "build/sub/keep.txt", True),
    (("*", "!keep"), "keep", False),
    (("*", "!keep"), "other", True),
    (("*", "!keep"), "dir/file", True),
    (("*.txt", "!a*.txt", "ab.txt"), "ab.txt", True),
    (("!build",), "build/x", False),
    (("**", "!util/web"), "util/web/foo", False),
    (("**", "!util/web", "util/web/foo"), "util/web/foo", True),
    # fsutil's walk: a path inherits the patterns its parent matched and is never matched against its
    # parents again (issue 14, each checked on the engine), ...
    (("a", "!a/x", "a"), "a/x", False),
    (("a/x", "!a"), "a/x", True),
    (("foo/bar", "!foo"), "foo/bar", True),
    (("a", "!a/x"), "a/y/x", True),
    # ... and an excluded directory is entered only if an exception could match inside it.
    (("a", "!b/x"), "a/b/x", True),
    (("a", "!*/x"), "a/x", False),
    (("a", "!a/*/x"), "a/b/x", False),
    # Docker matches with the Go regexp it makes of the pattern: RE2 classes and escapes, '^' literal.
    (("[[:alpha:]]",), "q", True),
    (("[[:alpha:]]",), ":", False),
    (("\\d",), "7", True),
    (("\\pL",), "é", True),
    (("^a",), "a", False),
    (("^a",), "^a", True),
    # The path is cleaned first; the root itself is never ignored.
    (("build",), "./build//x", True),
    (("*",), ".", False),
    ((), "anything", False),
    (("", "   "), "anything", False),
])
def test_is_ignored(patterns: tuple[str, ...], path: str, expected: bool) -> None:
    assert is_ignored(path, patterns) is expected


@pytest.mark.parametrize(("path", "expected"), [
    ("README.md", False),
    ("README-guide.md", False),
    ("README-secret.md", True),
    ("notes.md", True),
    ("docs/notes.md", False),
])
def test_docker_docs_example_exception_then_exclusion(path: str, expected: bool) -> None:
    assert is_ignored(path, ("*.md", "!README*.md", "README-secret.md")) is expected


@pytest.mark.parametrize(("path", "expected"), [
    ("README.md", False),
    ("README-secret.md", False),
    ("notes.md", True),
])
def test_docker_docs_example_exception_last_wins(path: str, expected: bool) -> None:
    assert is_ignored(path, ("*.md", "README-secret.md", "!README*.md")) is expected


@pytest.mark.parametrize("pattern", [
    "[", "a[", "[^bc", "\\", "[]a]", "[x-]", "[-x]", "[a-b-c]", "!", "  !  ",
])
def test_malformed_pattern_is_a_stack_error(pattern: str) -> None:
    with pytest.raises(StackError):
        is_ignored("a", (pattern,))


def test_malformed_pattern_message() -> None:
    with pytest.raises(StackError) as caught:
        is_ignored("a", ("src/[",))
    assert str(caught.value) == (
        "malformed ignore pattern 'src/[' "
        "(dockerignore patterns use Go filepath.Match syntax plus '**' (docs.docker.com: dockerignore))"
    )


def test_lone_exclamation_message() -> None:
    with pytest.raises(StackError) as caught:
        is_ignored("a", ("!",))
    assert str(caught.value) == 'illegal exclusion pattern: "!" (write the path to re-include after \'!\')'


# --- read_ignore_patterns -----------------------------------------------------------------------


def test_parse_like_dockerignore_read_all(tmp_path: Path) -> None:
    write(tmp_path, {
        "Dockerfile": "FROM scratch\n",
        ".dockerignore": (
            "# a comment\n"
            "\n"
            "   \n"
            "*.log\n"
            " # not a comment: '#' only counts in the first column\n"
            "/abs/path\n"
            "! /keep/this \n"
            "build/\n"
            "./x/../y//z\n"
            "\t spaced \t\r\n"
            "/\n"
            "last"
        ),
    })
    assert read_ignore_patterns(tmp_path, tmp_path / "Dockerfile") == (
        "*.log",
        "# not a comment: '#' only counts in the first column",
        "abs/path",
        "!keep/this",
        "build",
        "y/z",
        "spaced",
        "/",
        "last",
    )


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"\xef\xbb\xbf*.log\n# c\n")
    assert read_ignore_patterns(tmp_path, tmp_path / "Dockerfile") == ("*.log",)


def test_missing_ignore_file_gives_no_patterns(tmp_path: Path) -> None:
    assert read_ignore_patterns(tmp_path, tmp_path / "Dockerfile") == ()


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": "*.log\n", "Dockerfile.dockerignore": "*.tmp\n!keep.tmp\n"})
    assert read_ignore_patterns(tmp_path, tmp_path / "Dockerfile") == ("*.tmp", "!keep.tmp")


def test_dockerfile_specific_ignore_file_follows_the_dockerfile_name(tmp_path: Path) -> None:
    write(tmp_path, {
        ".dockerignore": "*.log\n",
        "docker/app.Dockerfile.dockerignore": "cache\n",
        "docker/Dockerfile.dockerignore": "other\n",
    })
    assert read_ignore_patterns(tmp_path, tmp_path / "docker" / "app.Dockerfile") == ("cache",)


def test_dockerfile_outside_the_context(tmp_path: Path) -> None:
    context_dir = write(tmp_path / "ctx", {".dockerignore": "*.log\n"})
    write(tmp_path / "df", {"Dockerfile.dockerignore": "secrets\n"})
    assert read_ignore_patterns(context_dir, tmp_path / "df" / "Dockerfile") == ("secrets",)
    assert read_ignore_patterns(context_dir, tmp_path / "other" / "Dockerfile") == ("*.log",)


def test_an_empty_dockerfile_specific_ignore_file_still_shadows_the_context_one(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": "*.log\n", "Dockerfile.dockerignore": "# nothing\n"})
    assert read_ignore_patterns(tmp_path, tmp_path / "Dockerfile") == ()


def test_ignore_file_names_the_one_file_buildkit_reads(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    assert ignore_file(tmp_path, dockerfile) is None
    write(tmp_path, {".dockerignore": "*.log\n"})
    assert ignore_file(tmp_path, dockerfile) == tmp_path / ".dockerignore"
    write(tmp_path, {"Dockerfile.dockerignore": "*.tmp\n"})
    assert ignore_file(tmp_path, dockerfile) == tmp_path / "Dockerfile.dockerignore"


def test_context_ignore_file_used_without_specific_one(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": "*.log\n", "Other.dockerignore": "x\n"})
    assert read_ignore_patterns(tmp_path, tmp_path / "Dockerfile") == ("*.log",)


def test_bad_line_reports_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": "# c\n*.log\nsrc/[\n"})
    with pytest.raises(StackError) as caught:
        read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    assert caught.value.location is not None
    assert str(caught.value.location) == f"{tmp_path / '.dockerignore'}:3"
    assert caught.value.message == "malformed ignore pattern 'src/['"


def test_lone_exclamation_line_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": "a\n!  \n"})
    with pytest.raises(StackError) as caught:
        read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    assert str(caught.value).startswith(f"{tmp_path / '.dockerignore'}:2: illegal exclusion pattern")


def test_ignore_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").mkdir()
    with pytest.raises(StackError) as caught:
        read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    assert str(caught.value) == (f"{tmp_path}/.dockerignore: .dockerignore is not a regular file "
                                 "(replace it with a regular file)")


@pytest.mark.parametrize("target", ["/dev/zero", "/etc/hostname", "inside.txt", "does/not/exist"])
def test_symlinked_ignore_file_is_refused_not_followed(tmp_path: Path, target: str) -> None:
    (tmp_path / "inside.txt").write_text("*.log\n", encoding="utf-8")
    (tmp_path / ".dockerignore").symlink_to(target)
    with pytest.raises(StackError) as caught:
        read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    assert str(caught.value) == (f"{tmp_path}/.dockerignore: .dockerignore is a symlink, which stackbuild "
                                 "does not follow (replace it with a regular file)")


def test_symlinked_dockerfile_ignore_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.dockerignore").symlink_to("/dev/zero")
    with pytest.raises(StackError, match=r"Dockerfile.dockerignore: Dockerfile.dockerignore is a symlink"):
        read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")


def test_ignore_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".dockerignore")
    with pytest.raises(StackError, match=r"\.dockerignore is not a regular file"):
        read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")


def test_ignore_file_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"#" * (1024 * 1024) + b"\n*.log\n")
    with pytest.raises(StackError) as caught:
        read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    assert caught.value.message == ".dockerignore is larger than 1048576 bytes"


def test_ignore_file_just_within_the_bound_is_read(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"*.log\n" + b"#" * (1024 * 1024 - 7) + b"\n")
    assert read_ignore_patterns(tmp_path, tmp_path / "Dockerfile") == ("*.log",)


# --- list_context -------------------------------------------------------------------------------


def test_list_context_honours_ignore_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "Dockerfile": "FROM scratch\n",
        ".dockerignore": "*.log\nbuild\n!build/keep.txt\n**/__pycache__\n",
        "app.py": "print(1)\n",
        "debug.log": "x\n",
        "src/x.log": "nested logs are not matched by *.log\n",
        "build/out.bin": "x\n",
        "build/keep.txt": "kept\n",
        "build/deep/keep.txt": "not kept\n",
        "src/__pycache__/m.pyc": "x\n",
        "__pycache__/m.pyc": "x\n",
    })
    patterns = read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    assert paths(tmp_path, patterns) == [
        ".dockerignore", "Dockerfile", "app.py", "build/keep.txt", "src/x.log",
    ]


def test_list_context_exact_entries(tmp_path: Path) -> None:
    write(tmp_path, {"a.txt": "hello\n", "bin/run": ""})
    (tmp_path / "bin" / "run").chmod(0o700)
    (tmp_path / "a.txt").chmod(0o600)
    assert list_context(tmp_path, ()) == (
        ContextFile("a.txt", HELLO, 0o644),
        ContextFile("bin/run", EMPTY, 0o755),
    )


def test_dockerfile_and_ignore_file_left_out_when_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM scratch\n", ".dockerignore": "Dockerfile\n.dockerignore\n", "a": ""})
    patterns = read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    assert paths(tmp_path, patterns) == ["a"]


def test_sorted_by_path_with_hidden_and_nested_files(tmp_path: Path) -> None:
    write(tmp_path, {"b/z": "", "b/a": "", "a": "", ".hidden": "", "B": "", "b-c": ""})
    assert paths(tmp_path) == [".hidden", "B", "a", "b-c", "b/a", "b/z"]


def test_empty_directories_and_special_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, {"a": ""})
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    os.mkfifo(tmp_path / "pipe")
    assert paths(tmp_path) == ["a"]


def test_folders_nothing_is_sent_below_are_listed_on_request(tmp_path: Path) -> None:
    write(tmp_path, {"a": "", "full/b": "", "logs/x.log": "", "skip/c": ""})
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "ignored").mkdir()
    listed = list_context(tmp_path, ("logs/*", "ignored", "skip"), folders=True)
    assert [(item.path, item.mode) for item in listed] == [
        ("a", context.REGULAR_MODE), ("empty/deeper", context.DIRECTORY_MODE),
        ("full/b", context.REGULAR_MODE), ("logs", context.DIRECTORY_MODE)]


def test_ignored_dir_walked_only_for_exceptions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"node_modules/a/b.js": "", "src/c.js": ""})
    seen: list[str] = []
    scan = context._scan

    def spy(directory: str) -> list[os.DirEntry[str]]:
        seen.append(Path(directory).relative_to(tmp_path).as_posix())
        return scan(directory)

    monkeypatch.setattr(context, "_scan", spy)
    assert paths(tmp_path, ("node_modules",)) == ["src/c.js"]
    assert sorted(seen) == [".", "src"]
    seen.clear()
    assert paths(tmp_path, ("node_modules", "!node_modules/a/b.js")) == ["node_modules/a/b.js", "src/c.js"]
    assert sorted(seen) == [".", "node_modules", "node_modules/a", "src"]


def test_missing_context_is_a_stack_error(tmp_path: Path) -> None:
    with pytest.raises(StackError) as caught:
        list_context(tmp_path / "nope", ())
    missing = tmp_path / "nope"
    assert str(caught.value) == f"build context {missing} is not a directory (check the context path)"


def test_large_file_is_hashed_completely(tmp_path: Path) -> None:
    data = bytes(range(256)) * (24 * 1024 + 7)  # ~6 MB, not a multiple of any chunk size
    (tmp_path / "big.tar").write_bytes(data)
    (item,) = list_context(tmp_path, ())
    assert item == ContextFile("big.tar", "sha256:" + hashlib.sha256(data).hexdigest(), 0o644)


# --- symlinks -----------------------------------------------------------------------------------


def test_symlink_is_hashed_by_its_target_text(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "hello\n", "text": "app.py"})
    (tmp_path / "link").symlink_to("app.py")
    assert list_context(tmp_path, ()) == (
        ContextFile("app.py", HELLO, 0o644),
        ContextFile("link", LINK_TO_APP, 0o120000),
        ContextFile("text", TEXT_APP, 0o644),
    )


def test_symlinked_directory_is_not_followed(tmp_path: Path) -> None:
    write(tmp_path, {"real/file": "x"})
    (tmp_path / "alias").symlink_to("real", target_is_directory=True)
    (tmp_path / "outside").symlink_to(tmp_path.parent)
    (tmp_path / "dangling").symlink_to("does/not/exist")
    assert paths(tmp_path) == ["alias", "dangling", "outside", "real/file"]
    modes = {item.path: item.mode for item in list_context(tmp_path, ())}
    assert modes == {"alias": 0o120000, "dangling": 0o120000, "outside": 0o120000, "real/file": 0o644}


def test_retargeting_a_symlink_changes_the_digest(tmp_path: Path) -> None:
    write(tmp_path, {"a": "1", "b": "1"})
    (tmp_path / "link").symlink_to("a")
    before = digest_of(tmp_path)
    (tmp_path / "link").unlink()
    (tmp_path / "link").symlink_to("b")
    assert digest_of(tmp_path) != before


def test_ignored_symlink_is_left_out(tmp_path: Path) -> None:
    write(tmp_path, {"a": ""})
    (tmp_path / "link").symlink_to("a")
    assert paths(tmp_path, ("link",)) == ["a"]


# --- context_digest -----------------------------------------------------------------------------


def test_context_digest_exact_values() -> None:
    assert context_digest([]) == "sha256:e00732e3678ad45c009f205d5315ff7ae12a07c179ce7d4782e2a4e7cde100e2"
    files = [ContextFile("a.txt", HELLO, 0o644), ContextFile("bin/run", EMPTY, 0o755)]
    expected = "sha256:b53d9fe67afdd8c67ea3cbf959fdf9ef7d42ec10dc02ecae97fd525de3882e91"
    assert context_digest(files) == expected
    assert context_digest(reversed(files)) == expected
    assert context_digest(iter(files)) == expected


def test_each_field_counts() -> None:
    base = [ContextFile("a", HELLO, 0o644)]
    variants = [
        [ContextFile("b", HELLO, 0o644)],
        [ContextFile("a", EMPTY, 0o644)],
        [ContextFile("a", HELLO, 0o755)],
        [ContextFile("a", HELLO, 0o644), ContextFile("b", HELLO, 0o644)],
    ]
    digests = {context_digest(files) for files in [base, *variants]}
    assert len(digests) == 5


def test_content_change_changes_the_digest(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "print(1)\n", "lib/m.py": "x = 1\n"})
    before = digest_of(tmp_path)
    assert digest_of(tmp_path) == before
    (tmp_path / "lib" / "m.py").write_text("x = 2\n", encoding="utf-8")
    assert digest_of(tmp_path) != before


def test_exec_bit_changes_the_digest_other_bits_do_not(tmp_path: Path) -> None:
    write(tmp_path, {"run.sh": "echo hi\n"})
    (tmp_path / "run.sh").chmod(0o644)
    before = digest_of(tmp_path)
    (tmp_path / "run.sh").chmod(0o600)
    assert digest_of(tmp_path) == before
    (tmp_path / "run.sh").chmod(0o744)
    after = digest_of(tmp_path)
    assert after != before
    (tmp_path / "run.sh").chmod(0o755)
    assert digest_of(tmp_path) == after


def test_ignored_file_change_keeps_the_digest(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": "*.log\ncache/\n", "app.py": "1", "debug.log": "a", "cache/x": "a"})
    patterns = read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    before = digest_of(tmp_path, patterns)
    write(tmp_path, {"debug.log": "b", "cache/x": "b", "cache/new": "c", "other.log": "d"})
    assert digest_of(tmp_path, patterns) == before
    write(tmp_path, {"sub/visible.log": "e"})
    assert digest_of(tmp_path, patterns) != before


def test_editing_the_ignore_file_changes_the_digest(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": "*.log\n", "app.py": "1"})
    before = digest_of(tmp_path, read_ignore_patterns(tmp_path, tmp_path / "Dockerfile"))
    write(tmp_path, {".dockerignore": "*.log\n# comment\n"})
    assert digest_of(tmp_path, read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")) != before


def test_rename_changes_the_digest(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "same\n"})
    before = digest_of(tmp_path)
    (tmp_path / "a.py").rename(tmp_path / "b.py")
    assert digest_of(tmp_path) != before
    (tmp_path / "b.py").rename(tmp_path / "a.py")
    assert digest_of(tmp_path) == before


def test_moving_between_directories_changes_the_digest(tmp_path: Path) -> None:
    write(tmp_path, {"a/b": "x"})
    before = digest_of(tmp_path)
    (tmp_path / "a" / "b").rename(tmp_path / "a_b")
    assert digest_of(tmp_path) != before


def test_digest_does_not_depend_on_the_context_location(tmp_path: Path) -> None:
    one = write(tmp_path / "one", {"a": "1", "d/b": "2"})
    two = write(tmp_path / "elsewhere" / "two", {"d/b": "2", "a": "1"})
    assert digest_of(one) == digest_of(two)


# --- files_matching -----------------------------------------------------------------------------


def test_files_matching(tmp_path: Path) -> None:
    patterns = ("*.log", "build", "!build/keep.txt", "docs/**")
    changed = [
        "app.py",
        "debug.log",
        "src/deep.log",
        "build/out.bin",
        "build/keep.txt",
        "docs/guide.md",
        "docs",
        "../sibling/file",
        ".",
        "./app.py",
        "lib//m.py",
        str(tmp_path / "abs.py"),
        str(tmp_path.parent / "outside.py"),
    ]
    assert files_matching(tmp_path, patterns, changed) == (
        "app.py", "src/deep.log", "build/keep.txt", "docs", "lib/m.py", "abs.py",
    )


def test_files_matching_reports_the_kept_paths_even_when_ignored(tmp_path: Path) -> None:
    patterns = (".dockerignore", "*.dockerignore", "sub")
    changed = [".dockerignore", "Dockerfile.dockerignore", "sub/.dockerignore", "sub/x"]
    assert files_matching(tmp_path, patterns, changed, (".dockerignore",)) == (".dockerignore",)


def test_files_matching_treats_ignore_files_as_files(tmp_path: Path) -> None:
    """An ignore file the build does not read (shadowed, or another Dockerfile's) counts only when sent."""
    changed = [".dockerignore", "Dockerfile.dockerignore", "other.Dockerfile.dockerignore", "x"]
    assert files_matching(tmp_path, (".dockerignore", "other.*"), changed) == ("Dockerfile.dockerignore", "x")


def test_files_matching_does_not_need_the_files_to_exist(tmp_path: Path) -> None:
    assert files_matching(tmp_path, ("*.md",), ["deleted.py", "gone.md"]) == ("deleted.py",)


def test_files_matching_agrees_with_list_context(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "", "b.log": "", "c/d.py": "", "c/e.log": "", "tmp/f": ""})
    patterns = ("**/*.log", "tmp")
    every = ["a.py", "b.log", "c/d.py", "c/e.log", "tmp/f"]
    assert list(files_matching(tmp_path, patterns, every)) == paths(tmp_path, patterns)


@pytest.mark.parametrize("patterns", [(), ("*.log",), (".git", "!.git/config")])
def test_a_context_that_would_send_git_metadata_is_refused(tmp_path: Path, patterns: tuple[str, ...]) -> None:
    # CI keeps credentials there (actions/checkout writes the job's token to .git/config): a pull
    # request's stack must not send them to a build it controls
    write(tmp_path, {"app.py": "x\n", ".git/config": "[http]\n", "sub/.git/HEAD": "ref\n"})
    with pytest.raises(StackError, match=r"would send \.git/") as caught:
        paths(tmp_path, patterns)
    assert ".dockerignore" in (caught.value.hint or "")


def test_an_ignored_git_folder_and_a_git_file_are_fine(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "x\n", ".git/config": "[http]\n", "sub/.git": "gitdir: ../.git/modules/sub\n"})
    assert paths(tmp_path, (".git",)) == ["app.py", "sub/.git"]  # a submodule's pointer file holds no secret


def test_git_metadata_in_another_case_is_refused_too(tmp_path: Path) -> None:
    # a case-insensitive file system (macOS) serves .GIT/config as .git/config
    write(tmp_path, {"app.py": "x\n", ".GIT/config": "[http]\n"})
    with pytest.raises(StackError, match=r"would send \.git/"):
        paths(tmp_path)
