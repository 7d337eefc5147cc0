"""graph.context.goglob, gopattern and re2: Go's filepath.Match vetting, moby's rewrite, RE2 in Python."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graph.context import goglob, gopattern, re2
from graph.context.dockerignore import read_ignore_patterns
from graph.context.files import list_context
from graph.errors import StackError


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("*.log", "a.log", True), ("*.log", "d/a.log", False), ("a?c", "abc", True), ("a?c", "a/c", False),
    ("[a-c]x", "bx", True), ("[^a-c]x", "bx", False), ("\\*", "*", True), ("*/b", "a/b", True),
    ("[[:alpha:]]", ":", False), ("[[:alpha:]]", ":]", True),  # Go: class "[:alph" then a literal "]"
])
def test_filepath_match(pattern: str, name: str, expected: bool) -> None:
    assert goglob.match(pattern, name) is expected


@pytest.mark.parametrize(("pattern", "ok"), [
    ("[", False), ("[a", False), ("[a-]", False), ("[]a]", False), ("[^]", False), ("a\\", False),
    ("*/[", False), ("b*[", False), ("[\\]]", True), ("[z-a]", True), ("[[:alpha:]]", True), ("\\pL", True),
])
def test_filepath_syntax(pattern: str, ok: bool) -> None:
    assert goglob.syntax_ok(pattern) is ok


@pytest.mark.parametrize(("pattern", "kind", "go"), [
    ("a/b", "exact", ""), ("^a", "exact", ""), ("a/**", "prefix", ""), ("**/a", "suffix", ""),
    ("**.log", "suffix", ""), ("**/*.log", "regexp", "^(.*/)?[^/]*\\.log$"),
    ("a/**/b", "regexp", "^a/(.*/)?b$"), ("a*/**", "regexp", "^a[^/]*/.*$"), ("[*]", "regexp", "^[[^/]*]$"),
    ("\\d", "regexp", "^\\d$"), ("a.b+c", "exact", ""),
])
def test_moby_rewrite(pattern: str, kind: str, go: str) -> None:
    assert gopattern.translate(pattern) == (kind, go)


def _go_search(go: str, text: str) -> bool:
    return re.search(re2.to_python(go), text, re.ASCII) is not None


@pytest.mark.parametrize(("go", "text", "expected"), [
    ("^[[:alpha:]]$", "q", True), ("^[[:alpha:]]$", ":", False), ("^[[:^alpha:]]$", "1", True),
    ("^\\d$", "٣", False), ("^\\w$", "é", False), ("^\\pL$", "é", True), ("^\\PN$", "5", False),
    ("^[\\d.]$", ".", True), ("^\\a$", "\a", True), ("^\\x41$", "A", True), ("^\\101$", "A", True),
    ("^\\Qa[^/]*$", "a[^/]*$", True), ("^\\Qa[^/]*$", "ab", False), ("^[[^/]*]$", "^[]", True),
    ("^a$", "a\n", False), ("^[^a]$", "\n", True), ("^.$", "\n", False), ("^[]a]$", "]", True),
])
def test_re2_semantics(go: str, text: str, expected: bool) -> None:
    assert _go_search(go, text) is expected


@pytest.mark.parametrize("go", [
    "^[[:nope:]]$", "^[z-a]$", "^\\1$", "^\\pQ$", "^\\p\\{L\\}$", "^\\C$", "^\\x4$", "^[a$", "^\\Z$", "^a)$",
])
def test_re2_refusals(go: str) -> None:
    with pytest.raises(re2.BadRegexp):
        re2.to_python(go)


def test_pattern_go_cannot_compile_fails_where_docker_fails(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a\n", encoding="utf-8")
    (tmp_path / ".dockerignore").write_text("zzz\n![z-a]\n", encoding="utf-8")
    patterns = read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    never_consulted = list_context(tmp_path, patterns)
    assert [item.path for item in never_consulted] == [".dockerignore", "a"]
    (tmp_path / ".dockerignore").write_text("a\n![z-a]\n", encoding="utf-8")
    patterns = read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    with pytest.raises(StackError) as caught:
        list_context(tmp_path, patterns)
    assert str(caught.value).startswith(f"build context {tmp_path}: ignore pattern '[z-a]' is refused "
                                        "by Docker: invalid character class range")


def test_pattern_filepath_refuses_is_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*.log\n!src/[a-]\n", encoding="utf-8")
    with pytest.raises(StackError) as caught:
        read_ignore_patterns(tmp_path, tmp_path / "Dockerfile")
    where = tmp_path / ".dockerignore"
    assert str(caught.value).startswith(f"{where}:2: malformed ignore pattern '!src/[a-]'")
