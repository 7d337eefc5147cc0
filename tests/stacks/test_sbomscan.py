"""The tools stack's SBOM generator (stacks/tools/sbom-generator/sbomscan.py): parsing and SPDX."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCANNER = Path(__file__).parents[2] / "stacks/tools/sbom-generator/sbomscan.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sbomscan", SCANNER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scan = _load()

STATUS = """Package: bash
Status: install ok installed
Version: 5.2.15-2+b7
Description: GNU Bourne Again SHell
 a continuation line: Package: fake

Package: removed-one
Status: deinstall ok config-files
Version: 1.0

Package: libc6
Architecture: arm64
Status: install ok installed
Version: 2.36-9+deb12u10
"""


def test_dpkg_status_lists_installed_packages_with_versions_only() -> None:
    assert scan.dpkg_packages(STATUS) == [("bash", "5.2.15-2+b7"), ("libc6", "2.36-9+deb12u10")]


def test_python_metadata_reads_name_and_version_from_headers_only() -> None:
    text = "Metadata-Version: 2.1\nName: numpy\nVersion: 2.2.6\n\nVersion: 9 (in the body)\n"
    assert scan.python_metadata(text) == ("numpy", "2.2.6")
    assert scan.python_metadata("Metadata-Version: 2.1\nName: half\n") is None


def _rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(STATUS, encoding="utf-8")
    for folder, name, version in (("opt/venv/lib/python3.11/site-packages", "numpy", "2.2.6"),
                                  ("usr/lib/python3/dist-packages", "PyYAML", "6.0.1")):
        info = root / folder / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                                       encoding="utf-8")
    (root / "usr/lib/python3/dist-packages/broken-1.dist-info").mkdir()  # no METADATA: skipped
    return root


def test_python_packages_are_found_in_venvs_and_debian_dist_packages(tmp_path: Path) -> None:
    assert scan.python_packages(_rootfs(tmp_path)) == [("PyYAML", "6.0.1"), ("numpy", "2.2.6")]


def test_scan_is_an_in_toto_statement_with_an_spdx_23_predicate(tmp_path: Path) -> None:
    statement = scan.scan(_rootfs(tmp_path), "sbom")
    assert statement["_type"] == "https://in-toto.io/Statement/v0.1"
    assert statement["predicateType"] == "https://spdx.dev/Document"
    document = statement["predicate"]
    assert document["spdxVersion"] == "SPDX-2.3"
    packages = {p["name"]: p for p in document["packages"]}
    assert packages["numpy"]["versionInfo"] == "2.2.6"
    assert packages["numpy"]["externalRefs"][0]["referenceLocator"] == "pkg:pypi/numpy@2.2.6"
    assert packages["bash"]["externalRefs"][0]["referenceLocator"] == "pkg:deb/debian/bash@5.2.15-2+b7"
    ids = [p["SPDXID"] for p in document["packages"]]
    assert len(set(ids)) == len(ids) == 4
    assert {r["relatedSpdxElement"] for r in document["relationships"]} == set(ids)


def test_the_same_root_gives_the_same_bytes(tmp_path: Path) -> None:
    root = _rootfs(tmp_path)
    assert json.dumps(scan.scan(root, "sbom")) == json.dumps(scan.scan(root, "sbom"))


def test_main_follows_the_buildkit_protocol(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extras = tmp_path / "extras"
    (extras / "stage-build").mkdir(parents=True)
    out = tmp_path / "out"
    out.mkdir()
    environ = {"BUILDKIT_SCAN_SOURCE": str(_rootfs(tmp_path)), "BUILDKIT_SCAN_DESTINATION": str(out),
               "BUILDKIT_SCAN_SOURCE_EXTRAS": str(extras)}
    assert scan.main(environ) == 0
    assert sorted(p.name for p in out.iterdir()) == ["rootfs.spdx.json", "stage-build.spdx.json"]
    written = json.loads((out / "rootfs.spdx.json").read_text(encoding="utf-8"))
    assert {p["name"] for p in written["predicate"]["packages"]} == {"bash", "libc6", "numpy", "PyYAML"}
    assert "rootfs: 4 packages" in capsys.readouterr().out


def test_main_without_extras_scans_only_the_source_and_refuses_a_missing_destination(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    source = _rootfs(tmp_path)
    assert scan.main({"BUILDKIT_SCAN_SOURCE": str(source), "BUILDKIT_SCAN_DESTINATION": str(out),
                      "BUILDKIT_SCAN_SOURCE_EXTRAS": str(tmp_path / "missing")}) == 0
    assert [p.name for p in out.iterdir()] == ["rootfs.spdx.json"]
    assert scan.main({"BUILDKIT_SCAN_SOURCE": str(source)}) == 2
