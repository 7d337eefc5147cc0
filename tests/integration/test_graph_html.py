"""The HTML graph page in a real headless Chromium: every node is in the DOM and the filter box works."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.run import api

ROOT = Path(__file__).resolve().parents[2]
DEMO = api.Options(root=ROOT, targets=(Path("stacks/demo"),))
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1400,1000")


def _required(names: tuple[str, ...], install: str) -> str:
    """The first of names on PATH; fails in CI, skips elsewhere, when there is none."""
    found = next((path for name in names if (path := shutil.which(name))), None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{names[0]} is required in CI ({install})")
    pytest.skip(f"{names[0]} is not installed ({install})")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium (or another Chromium on PATH)."""
    return _required(BROWSERS, "apt-get install chromium")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo stack's graph page, written by the CLI (Graphviz required)."""
    _required(("dot",), "apt-get install graphviz, or make setup")
    path = tmp_path_factory.mktemp("graph") / "demo.html"
    assert cli.main(["graph", "--root", str(ROOT), "--offline", "--format", "html", "--out", str(path),
                     "--log-format", "json", "stacks/demo"]) == 0
    return path


def browse(chromium: str, profile: Path, *args: str) -> str:
    """Run headless Chromium with a throwaway profile; its stdout."""
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, timeout=120, check=False, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_every_node_is_in_the_rendered_dom(chromium: str, page: Path, tmp_path: Path) -> None:
    dom = browse(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    entries = api.plan(DEMO)
    for entry in entries:
        tag = entry.ref.rsplit(":", 1)[1]
        assert f">{entry.node}</td>" in dom and tag in dom
        assert f'id="node-n_{entry.node.replace("-", "_")}"' in dom  # the SVG node, inline
    assert f"{len(entries)} of {len(entries)} nodes" in dom  # the script ran


def test_the_filter_box_hides_rows_and_dims_nodes(chromium: str, page: Path, tmp_path: Path) -> None:
    dom = browse(chromium, tmp_path / "profile", "--dump-dom", page.as_uri() + "#q=tinygrad")
    entries = api.plan(DEMO)
    matching = [entry for entry in entries if "tinygrad" in entry.node]
    assert f"{len(matching)} of {len(entries)} nodes" in dom
    hidden = re.findall(r'<tr data-id="(n_\w+)" class="hidden">', dom)
    assert len(hidden) == len(entries) - len(matching) and "n_tinygrad" not in hidden
    assert re.search(r'<g id="node-n_debian" class="node dim">', dom)


def test_the_page_renders_to_a_screenshot(chromium: str, page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    browse(chromium, tmp_path / "profile", f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
