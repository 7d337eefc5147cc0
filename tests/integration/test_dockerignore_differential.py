""".dockerignore, stackbuild against the real engine: the files BuildKit sends equal the files counted.

Cases come from a seeded generator (pattern lists with exceptions, '**', leading and trailing '/',
'?', '*', character classes with ranges, negation, POSIX names and backslash escapes, nested
directories, dotfiles) over generated small trees. Many cases share one build: each case is a named
build context (``--build-context cN=DIR``) whose own .dockerignore BuildKit applies, copied by a
``FROM scratch`` stage to /cN/ and exported with ``--output type=local``; case 0 of every batch is
the main context, so named and main contexts are both covered.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.build.builder import BuildxBuilder
from graph.context.dockerignore import parse_ignore_line, read_ignore_patterns
from graph.context.files import list_context
from graph.context.matcher import compile_pattern
from graph.errors import StackError

SEED = 14
CASES = 400
BATCH = 100
NAMES = ("a", "b", "ab", "a.txt", "b.log", "x1", ".hidden", "Z9", "foo", "bar_2", "a-b", "é7", "[x]")
KNOWN = (  # the divergences issue 14 reported, kept first
    (("a", "!a/x", "a"), ("a/x", "a/y", "b")),
    (("a/x", "!a"), ("a/x", "a/y", "b")),
    (("foo/bar", "!foo"), ("foo/bar", "foo/baz", "x")),
)


@dataclass(frozen=True)
class Case:
    """One generated context: its ignore patterns (file lines) and its files."""

    patterns: tuple[str, ...]
    files: tuple[str, ...]


def _tree(rng: random.Random) -> tuple[str, ...]:
    """3-9 files up to 3 levels deep, no path both a file and a directory."""
    files: set[str] = set()
    for _ in range(rng.randint(3, 9)):
        path = "/".join(rng.choice(NAMES) for _ in range(rng.choice((1, 1, 2, 2, 3))))
        clash = any(path.startswith(f + "/") or f.startswith(path + "/") for f in files)
        if not clash:
            files.add(path)
    return tuple(sorted(files))


def _component(rng: random.Random, name: str) -> str:
    """A path component, sometimes turned into a glob piece."""
    roll, index = rng.random(), rng.randrange(len(name))
    char = name[index]
    pieces = (
        "*", "?", f"[{char}]", f"[^{char}]", "[a-c]", "[^a-c]", "[[:alpha:]]", "[[:digit:]]",
        "[[:lower:]]", "[[:punct:]]", "[!.]", f"\\{char}", "[a\\-z]", "\\d", "\\w", "\\pL", "[\\d.]",
        "[[:^alpha:]]", "\\PN", "[*]", "[?]", "\\[", "^", "\\Q",
    )
    if roll < 0.15:
        return "*" if rng.random() < 0.5 else name[:index] + "*"
    if roll < 0.25:
        return "**"
    if roll < 0.55:
        return name[:index] + rng.choice(pieces) + name[index + 1:]
    return name


def _pattern(rng: random.Random, files: tuple[str, ...], first: bool) -> str:
    """One ignore line built from a path of the tree (so that it matters), maybe an exception."""
    parts = rng.choice(files).split("/")
    parts = parts[: rng.randint(1, len(parts))]
    text = "/".join(_component(rng, part) for part in parts)
    text = ("/" if rng.random() < 0.15 else "**/" if rng.random() < 0.1 else "") + text
    text += "/" if rng.random() < 0.15 else "/**" if rng.random() < 0.1 else ""
    return ("!" if not first and rng.random() < 0.4 else "") + text


def _accepted(patterns: tuple[str, ...]) -> bool:
    """Whether every line is taken and compiles (refused ones are tried one build each, below)."""
    try:
        compiled = [compile_pattern(parse_ignore_line(line) or "") for line in patterns]
    except StackError:
        return False
    return not any(item is not None and item.error for item in compiled)


def generate(count: int, seed: int) -> list[Case]:
    """KNOWN first, then seeded random cases that stackbuild accepts."""
    rng = random.Random(seed)
    cases = [Case(patterns, files) for patterns, files in KNOWN]
    while len(cases) < count:
        files = _tree(rng)
        patterns = tuple(_pattern(rng, files, index == 0) for index in range(rng.randint(1, 5)))
        if _accepted(patterns):
            cases.append(Case(patterns, files))
    return cases


def _write(folder: Path, case: Case) -> Path:
    """The context of case in folder (each file holds its own path)."""
    for relative in case.files:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(relative + "\n", encoding="utf-8")
    (folder / ".dockerignore").write_text("".join(line + "\n" for line in case.patterns), encoding="utf-8")
    return folder


def _sent(out: Path) -> set[str]:
    """The files and symlinks (not directories) under out, as POSIX paths relative to it."""
    found = out.rglob("*")
    return {path.relative_to(out).as_posix() for path in found if path.is_symlink() or not path.is_dir()}


def _build(tmp: Path, contexts: list[Path]) -> Path:
    """One build copying every context to /cN/; case 0 is the main context, the rest named ones."""
    dockerfile = tmp / "df" / "Dockerfile"
    dockerfile.parent.mkdir()
    lines = ["FROM scratch", "COPY . /c0/"] + [f"COPY --from=c{n} / /c{n}/" for n in range(1, len(contexts))]
    dockerfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    named = [arg for n in range(1, len(contexts)) for arg in ("--build-context", f"c{n}={contexts[n]}")]
    out = tmp / "out"
    command = ["docker", "buildx", "build", "--quiet", "-f", str(dockerfile), *named,
               "--output", f"type=local,dest={out}", str(contexts[0])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _counted(context: Path) -> set[str]:
    """The files stackbuild's fingerprint counts for context."""
    patterns = read_ignore_patterns(context, context / "Dockerfile")
    return {item.path for item in list_context(context, patterns)}


ALL_CASES = generate(CASES, SEED)


@pytest.mark.parametrize("start", range(0, CASES, BATCH))
def test_files_sent_equal_files_counted(builder: BuildxBuilder, tmp_path: Path, start: int) -> None:
    cases = ALL_CASES[start: start + BATCH]
    contexts = [_write(tmp_path / f"ctx{n}", case) for n, case in enumerate(cases)]
    out = _build(tmp_path, contexts)
    diverging = []
    for n, (case, context) in enumerate(zip(cases, contexts, strict=True)):
        sent = {path.removeprefix(f"c{n}/") for path in _sent(out) if path.startswith(f"c{n}/")}
        counted = _counted(context)
        if sent != counted:
            diverging.append(f"case {start + n}: patterns={case.patterns!r} files={case.files!r} "
                             f"sent={sorted(sent)!r} counted={sorted(counted)!r}")
    assert not diverging, "\n".join(diverging)


# filepath.Match refuses the first five; the next four pass it, but Go cannot compile their regexp,
# which fails the build once a path is checked against them (as the first pattern, at once); '!'
# alone (also '/!', which loses its '/') is an illegal exception; the last one's exception is
# consulted because 'a' matched.
REFUSED = ("[", "a[b", "[a-]", "\\", "[]a]", "[[:nope:]]", "x\\1", "[z-a]", "a\\pQ", "!", "/!", "a\n![z-a]")


def test_uncompilable_pattern_is_harmless_until_consulted(builder: BuildxBuilder, tmp_path: Path) -> None:
    context = _write(tmp_path / "ctx", Case(("zzz", "![z-a]", "!x\\1"), ("a", "b/c")))
    sent = {path.removeprefix("c0/") for path in _sent(_build(tmp_path, [context]))}
    assert sent == _counted(context) == {".dockerignore", "a", "b/c"}


@pytest.mark.parametrize("pattern", REFUSED)
def test_refused_patterns_fail_the_build_too(builder: BuildxBuilder, tmp_path: Path, pattern: str) -> None:
    context = _write(tmp_path / "ctx", Case(tuple(pattern.split("\n")), ("a", "b/c")))
    with pytest.raises(StackError):
        _counted(context)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY . /\n", encoding="utf-8")
    command = ["docker", "buildx", "build", "--quiet", "-f", str(dockerfile),
               "--output", f"type=local,dest={tmp_path / 'out'}", str(context)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0, f"Docker accepted {pattern!r}, stackbuild refuses it"


def test_symlinks_are_matched_by_their_own_path(builder: BuildxBuilder, tmp_path: Path) -> None:
    context = _write(tmp_path / "ctx", Case(("l/x", "a/y", "!l", "m*", ".dockerignore"), ("a/x", "a/y", "b")))
    (context / "l").symlink_to("a", target_is_directory=True)
    (context / "m").symlink_to("b")
    (context / "n").symlink_to("does/not/exist")
    sent = {path.removeprefix("c0/") for path in _sent(_build(tmp_path, [context]))}
    assert sent == _counted(context) == {"a/x", "b", "l", "n"}
