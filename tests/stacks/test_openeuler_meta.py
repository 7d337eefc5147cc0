"""`stackbuild export meta` on stacks/openeuler: meta.yml files for EulerPublisher, shaped like upstream's."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cli import main as cli
from graph.expand.assemble import load_graph
from graph.expand.dag import StackGraph

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = Path(__file__).resolve().parent / "data" / "upstream-meta"
SWITCH = "tags: oeep14  # or: openeuler (openEuler's published scheme)"
ARCHES = {"x86_64", "aarch64", "loongarch64"}  # EulerPublisher's AVAILABLE_ARCHES


def release_os(release: str) -> str:
    """EulerPublisher's _transform_version_format: 22.03-lts-sp4 → 2203sp4, 24.03-lts → 2403lts."""
    if "-sp" in release:
        release = release.replace("lts", "")
    return release.replace(".", "").replace("-", "")


def shape_problems(meta: Any) -> list[str]:
    """What keeps meta from being a meta.yml as upstream writes them (tag → {path[, arch]})."""
    if not isinstance(meta, dict) or not meta:
        return ["not a non-empty mapping"]
    problems = []
    for tag, entry in meta.items():
        if not isinstance(tag, str) or not isinstance(entry, dict) or "path" not in entry:
            problems.append(f"{tag!r}: not tag → {{path: ...}}")
        elif set(entry) - {"path", "arch"} or not re.fullmatch(r"[^/]+/[^/]+/Dockerfile", entry["path"]):
            problems.append(f"{tag}: {entry}")
        elif not set(str(entry.get("arch", "x86_64")).split(",")) <= ARCHES:
            problems.append(f"{tag}: arch {entry['arch']!r}")
        elif not tag.replace("-dev", "").endswith("-oe" + release_os(entry["path"].split("/")[1])):
            problems.append(f"{tag}: its -oe part is not the release folder {entry['path']}")
    return problems


def upstream(name: str) -> dict[str, dict[str, str]]:
    text = (UPSTREAM / f"{name}.meta.yml").read_text(encoding="utf-8")
    assert text.startswith("# openeuler-mirror/openeuler-docker-images@")
    meta: dict[str, dict[str, str]] = yaml.safe_load(text)
    return meta


def test_the_upstream_samples_have_the_shape() -> None:
    for name in ("cann", "pytorch"):
        assert shape_problems(upstream(name)) == []


def test_the_shape_check_catches_what_eulerpublisher_refuses() -> None:
    assert shape_problems({"8.0.RC1-oe2203sp4": {"path": "../../stacks/sdk/Dockerfile"}})
    assert shape_problems({"8.0.RC1-oe2203sp4": {"path": "8.0.RC1/22.03-lts-sp4/Dockerfile", "arch": "arm"}})
    assert shape_problems({"8.0.RC1-oe2203sp4": {"path": "8.0.RC1/22.03-lts/Dockerfile"}})


def exported(tmp_path: Path, convention: str) -> tuple[StackGraph, Path]:
    """The plan of a copy of stacks/openeuler under convention, and its export in a folder outside it."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "stacks" / "openeuler", root / "stacks" / "openeuler")
    stack_file = root / "stacks" / "openeuler" / "stack.yaml"
    stack_file.write_text(stack_file.read_text(encoding="utf-8").replace(SWITCH, f"tags: {convention}"),
                          encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["export", "meta", "stacks/openeuler", "--root", str(root), "--out", str(out)]) == 0
    return load_graph(root, (Path("stacks/openeuler"),)), out / "openeuler-ai"


@pytest.fixture(scope="module", params=["openeuler", "oeep14"])
def export(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[StackGraph, Path]:
    return exported(tmp_path_factory.mktemp(request.param), request.param)


def metas(out: Path) -> dict[str, dict[str, dict[str, str]]]:
    return {path.parent.name: yaml.safe_load(path.read_text(encoding="utf-8"))
            for path in out.glob("*/meta.yml")}


def test_every_exported_meta_has_upstreams_shape_and_lists_the_planned_tags(
        export: tuple[StackGraph, Path]) -> None:
    graph, out = export
    files = metas(out)
    assert set(files) == {"cann", "cuda", "pytorch", "mindspore", "llm"}
    for name, meta in files.items():
        assert shape_problems(meta) == [], name
    listed = {(image, tag) for image, meta in files.items() for tag in meta}
    assert listed == {(n.image, n.tag) for n in graph.nodes.values() if not n.external}
    arm64_only = {(n.image, n.tag) for n in graph.nodes.values() if n.platforms == ("linux/arm64",)}
    with_arch = {(image, tag) for image, meta in files.items() for tag, e in meta.items() if "arch" in e}
    assert with_arch == arm64_only
    assert all(meta[tag]["arch"] == "aarch64" for image, meta in files.items() for tag in meta
               if (image, tag) in arm64_only)


def test_each_tag_folder_builds_standalone(export: tuple[StackGraph, Path]) -> None:
    graph, out = export
    by_tag = {(n.image, n.tag): n for n in graph.nodes.values() if not n.external}
    for image, meta in metas(out).items():
        for tag, entry in meta.items():
            node = by_tag[(image, tag)]
            text = (out / image / entry["path"]).read_text(encoding="utf-8")
            parent = graph.nodes[node.parent or ""].ref
            assert re.search(r"^FROM parent\b", text, re.MULTILINE | re.IGNORECASE) is None, tag
            assert f"FROM {parent}" in text, tag
            for name, value in node.args:
                if re.search(rf"^ARG {name}\b", text, re.MULTILINE):
                    assert re.search(rf"^ARG {name}={re.escape(value)}$", text, re.MULTILINE), (tag, name)


def test_a_cann_folder_holds_its_context(export: tuple[StackGraph, Path]) -> None:
    _, out = export
    [folder] = [path.parent for path in (out / "cann").glob("*8.1.RC1*/24.03-lts/Dockerfile")
                if not path.parts[-3].endswith("-dev")]
    assert os.access(folder / "common" / "ascend-entrypoint.sh", os.X_OK)
    assert (folder / "common" / "build-python.sh").is_file()
    assert sorted(path.name for path in folder.iterdir()) == ["Dockerfile", "common"]  # no cuda/, cann/
    text = (folder / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG CANN_VERSION=8.1.RC1" in text and "ARG PYTHON_VERSION=3.11" in text
    assert "FROM openeuler/openeuler:24.03-lts AS python" in text


def test_published_tags_get_upstreams_paths(tmp_path: Path) -> None:
    files = metas(exported(tmp_path, "openeuler")[1])
    shared = 0
    for name in ("cann", "pytorch"):
        for tag, entry in upstream(name).items():
            if tag in files[name]:
                shared += 1
                assert files[name][tag]["path"] == entry["path"], tag
                if "arch" in entry:  # upstream's cann 7.0.RC1.alpha002 names none; ours says aarch64
                    assert files[name][tag].get("arch") == entry["arch"], tag
    assert shared == 7  # cann 7.0.RC1.alpha002, 8.0.RC1 and 8.1.RC1 ×2; pytorch's three


NAMES = ("CANN", "CUDA", "PyTorch", "MindSpore", "FastChat", "ChatGLM2-6B")
LINE = re.compile(rf"({'|'.join(NAMES)})( \S+)?( with .+)? on openEuler \d\d\.\d\d-LTS(-SP\d)?"
                  r"( \(dev variant\))?")


def test_the_pages_spell_names_and_releases_as_upstreams_pages_do(export: tuple[StackGraph, Path]) -> None:
    _, out = export
    cells = {image.parent.name: [row.split(" | ")[1] for row in image.read_text(encoding="utf-8").splitlines()
                                 if row.startswith("| [")] for image in out.glob("*/README.md")}
    assert set(cells) == {"cann", "cuda", "pytorch", "mindspore", "llm"}
    assert [cell for lines in cells.values() for cell in lines if not LINE.fullmatch(cell)] == []
    # upstream's AI/cann/README.md, word for word
    assert {"CANN 8.0.RC1 with Python 3.8 on openEuler 22.03-LTS-SP4",
            "CANN 8.1.RC1 with Python 3.11 on openEuler 24.03-LTS"} <= set(cells["cann"])
    assert "PyTorch 2.5.1 with CANN 8.1.RC1, Python 3.11 on openEuler 24.03-LTS" in cells["pytorch"]
