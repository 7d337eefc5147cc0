"""CI front ends: GitHub Actions annotations, log groups and job summary; GitLab collapsible sections.

Detected from the environment each CI sets (`GITHUB_ACTIONS=true`, `GITLAB_CI=true`); elsewhere every
function here writes nothing, so a local run looks as before.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

GITHUB, GITLAB, NONE = "github", "gitlab", ""
_MAX_GROUP_LINES = 2000  # a node's log shown in a group keeps its last lines


def provider(env: Mapping[str, str] | None = None) -> str:
    """Which CI runs us: github, gitlab, or '' for none."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        return GITHUB
    if env.get("GITLAB_CI") == "true":
        return GITLAB
    return NONE


def _escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A workflow command's property value (file, title), escaped as GitHub's runner expects."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def error_annotation(message: str, file: str = "", line: int = 0, title: str = "") -> str:
    """A GitHub `::error file=…,line=…::message` workflow command (no trailing newline)."""
    props = [f"file={_escape_property(file)}"] if file else []
    props += [f"line={line}"] if file and line else []
    props += [f"title={_escape_property(title)}"] if title else []
    head = f"::error {','.join(props)}" if props else "::error"
    return f"{head}::{_escape_data(message)}"


def annotate(stream: TextIO, message: str, file: str = "", line: int = 0, title: str = "",
             env: Mapping[str, str] | None = None) -> None:
    """On GitHub Actions, an error annotation pinned to file:line; elsewhere nothing."""
    if provider(env) == GITHUB:
        stream.write(error_annotation(message, file, line, title) + "\n")
        stream.flush()


@contextmanager
def group(stream: TextIO, title: str, key: str = "", env: Mapping[str, str] | None = None) -> Iterator[None]:
    """A collapsible group of log lines: GitHub's ::group::, GitLab's section markers, else a header."""
    kind = provider(env)
    section = "".join(c if c.isalnum() or c in "_." else "_" for c in (key or title))[:64]
    if kind == GITHUB:
        stream.write(f"::group::{_escape_data(title)}\n")
    elif kind == GITLAB:
        stream.write(f"\x1b[0Ksection_start:{int(time.time())}:{section}[collapsed=true]\r\x1b[0K{title}\n")
    else:
        stream.write(f"--- {title}\n")
    try:
        yield
    finally:
        if kind == GITHUB:
            stream.write("::endgroup::\n")
        elif kind == GITLAB:
            stream.write(f"\x1b[0Ksection_end:{int(time.time())}:{section}\r\x1b[0K\n")
        stream.flush()


def tail(path: Path, lines: int = _MAX_GROUP_LINES) -> str:
    """The last lines of a text file ('' when it cannot be read)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            kept = handle.readlines()[-lines:]
    except OSError:
        return ""
    return "".join(kept)


def append_job_summary(markdown: str, env: Mapping[str, str] | None = None) -> Path | None:
    """Append markdown to GitHub's job summary file, when there is one; its path, else None (a summary
    that cannot be written is a warning on stderr: the run it summarises is already recorded)."""
    env = os.environ if env is None else env
    target = env.get("GITHUB_STEP_SUMMARY", "")
    if provider(env) != GITHUB or not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    except OSError as exc:
        print(f"warning: GITHUB_STEP_SUMMARY={target}: cannot append the job summary: {exc.strerror or exc}",
              file=sys.stderr)
        return None
    return path
