"""BuildKit SBOM generator: lists a root file system's Debian and Python packages as SPDX 2.3.

Protocol (BuildKit docs/attestations/sbom-protocol.md): scan $BUILDKIT_SCAN_SOURCE and every folder
in $BUILDKIT_SCAN_SOURCE_EXTRAS (optional); write one in-toto statement with an SPDX predicate per
target to $BUILDKIT_SCAN_DESTINATION/<target name>.spdx.json. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from email.parser import HeaderParser
from pathlib import Path

DPKG_STATUS = "var/lib/dpkg/status"
PYTHON_ROOTS = ("usr/lib", "usr/local/lib", "opt")
STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"
SPDX_PREDICATE = "https://spdx.dev/Document"
MAX_DEPTH = 6  # site-packages sits at most this deep below a Python root (opt/venv/lib/python3.11/...)


def dpkg_packages(status_text: str) -> list[tuple[str, str]]:
    """(name, version) of every installed package in a dpkg status file's text."""
    packages = []
    for stanza in status_text.split("\n\n"):
        fields = dict(_field(line) for line in stanza.splitlines() if line and not line[0].isspace())
        if fields.get("Package") and "installed" in fields.get("Status", "").split():
            packages.append((fields["Package"], fields.get("Version", "")))
    return sorted(set(packages))


def _field(line: str) -> tuple[str, str]:
    key, _, value = line.partition(":")
    return key.strip(), value.strip()


def python_metadata(metadata_text: str) -> tuple[str, str] | None:
    """(name, version) from a dist-info METADATA file's text, None when either is missing."""
    headers = HeaderParser().parsestr(metadata_text, headersonly=True)
    name, version = headers.get("Name", "").strip(), headers.get("Version", "").strip()
    return (name, version) if name and version else None


def python_packages(root: Path) -> list[tuple[str, str]]:
    """(name, version) of every *.dist-info/METADATA below the Python roots of the file system root."""
    found = set()
    for top in PYTHON_ROOTS:
        for metadata in _dist_infos(root / top, MAX_DEPTH):
            try:
                parsed = python_metadata(metadata.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
            if parsed:
                found.add(parsed)
    return sorted(found)


def _dist_infos(folder: Path, depth: int) -> list[Path]:
    """METADATA files of *.dist-info folders at most depth levels below folder (symlinks not followed)."""
    try:
        entries = [entry for entry in os.scandir(folder) if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    found = []
    for entry in entries:
        path = Path(entry.path)
        if entry.name.endswith(".dist-info"):
            if (path / "METADATA").is_file():
                found.append(path / "METADATA")
        elif depth > 0:
            found += _dist_infos(path, depth - 1)
    return found


def spdx_id(kind: str, name: str, version: str) -> str:
    """A stable SPDX element id: letters, digits, '.' and '-' only."""
    digest = hashlib.sha256(f"{kind}/{name}@{version}".encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in ".-" else "-" for c in name)
    return f"SPDXRef-{kind}-{safe}-{digest}"


def spdx_package(kind: str, name: str, version: str) -> dict[str, object]:
    """One SPDX package with a purl (pkg:deb/debian or pkg:pypi)."""
    purl = f"pkg:deb/debian/{name}@{version}" if kind == "deb" else f"pkg:pypi/{name.lower()}@{version}"
    return {
        "SPDXID": spdx_id(kind, name, version), "name": name, "versionInfo": version,
        "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": purl}],
    }


def spdx_document(target: str, debs: list[tuple[str, str]],
                  wheels: list[tuple[str, str]]) -> dict[str, object]:
    """An SPDX 2.3 document of one scanned target's packages (no time: same input, same bytes)."""
    packages = [spdx_package("deb", n, v) for n, v in debs]
    packages += [spdx_package("pypi", n, v) for n, v in wheels]
    content = hashlib.sha256(json.dumps(packages, sort_keys=True).encode()).hexdigest()
    return {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"sbom-{target}",
        "documentNamespace": f"https://stackbuild.invalid/spdx/{target}-{content}",
        "creationInfo": {"created": "1970-01-01T00:00:00Z", "creators": ["Tool: stackbuild-sbomscan-1"]},
        "packages": packages,
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                           "relatedSpdxElement": package["SPDXID"]} for package in packages],
    }


def statement(document: dict[str, object]) -> dict[str, object]:
    """The in-toto statement BuildKit attaches (it fills in the subject)."""
    return {"_type": STATEMENT_TYPE, "predicateType": SPDX_PREDICATE, "subject": [], "predicate": document}


def scan(root: Path, target: str) -> dict[str, object]:
    """The in-toto SBOM statement of the file system at root."""
    status = root / DPKG_STATUS
    debs = dpkg_packages(status.read_text(encoding="utf-8", errors="replace")) if status.is_file() else []
    return statement(spdx_document(target, debs, python_packages(root)))


def targets(environ: dict[str, str]) -> list[Path]:
    """The main target and the extras (an unset, empty or missing extras folder means none)."""
    found = [Path(environ["BUILDKIT_SCAN_SOURCE"])]
    extras = environ.get("BUILDKIT_SCAN_SOURCE_EXTRAS", "")
    if extras and Path(extras).is_dir():
        found += sorted(path for path in Path(extras).iterdir() if path.is_dir())
    return found


def main(environ: dict[str, str]) -> int:
    """Scan every target and write <name>.spdx.json into the destination."""
    if not environ.get("BUILDKIT_SCAN_SOURCE") or not environ.get("BUILDKIT_SCAN_DESTINATION"):
        print("sbomscan: BUILDKIT_SCAN_SOURCE and BUILDKIT_SCAN_DESTINATION must be set", file=sys.stderr)
        return 2
    destination = Path(environ["BUILDKIT_SCAN_DESTINATION"])
    for root in targets(environ):
        result = scan(root, root.name)
        (destination / f"{root.name}.spdx.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(f"sbomscan: {root.name}: {len(result['predicate']['packages'])} packages")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ)))
