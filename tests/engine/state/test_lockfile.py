"""lockfile: node → tag → digest (with platforms), written atomically and checked when read."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.errors import EngineError
from engine.state.lockfile import (
    VERSION,
    LockEntry,
    LockfileError,
    merge_entries,
    read_lockfile,
    write_lockfile,
)

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
FP = "c" * 64
HINT = "(name a lock.json written by a run)"
RESTORE = "(restore the file from the run folder)"


def lock_entry(node: str = "numpy", ref: str = "localhost:5000/stackbuild/framework:numpy2.2.6",
               digest: str = DIGEST, platforms: dict[str, str] | None = None) -> LockEntry:
    return LockEntry(node, ref, FP, digest, platforms if platforms is not None else {"linux/amd64": OTHER})


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def item(**changes: Any) -> dict[str, Any]:
    return {"node": "a", "ref": "localhost:5000/t/a:1", "fingerprint": FP, "digest": DIGEST,
            "platforms": {}, **changes}


def refused(folder: Path, entry: Any) -> tuple[Path, str]:
    """A lockfile whose one node is entry, and what read_lockfile says refusing it."""
    path = write_json(folder / "lock.json", {"version": 1, "nodes": {"a": entry}})
    with pytest.raises(LockfileError) as caught:
        read_lockfile(path)
    return path, str(caught.value)


def test_round_trip(tmp_path: Path) -> None:
    entries = [lock_entry("numpy"), lock_entry("debian", "localhost:5000/stackbuild/debian:12", OTHER, {}),
               lock_entry("chat-2", "ghcr.io/org/llm:chat2gram-1.0_rc.1", DIGEST,
                          {"linux/amd64": DIGEST, "linux/arm64": OTHER})]
    path = write_lockfile(tmp_path / "deep" / "lock.json", "run-1", entries)
    assert path == tmp_path / "deep" / "lock.json"
    assert read_lockfile(path) == sorted(entries, key=lambda e: e.node)
    assert [p.name for p in path.parent.iterdir()] == ["lock.json"]  # no temporary file left


def test_written_format(tmp_path: Path) -> None:
    path = write_lockfile(tmp_path / "lock.json", "run-1", [lock_entry()])
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert json.loads(text) == {"version": VERSION, "run": "run-1", "nodes": {"numpy": {
        "node": "numpy", "ref": "localhost:5000/stackbuild/framework:numpy2.2.6", "fingerprint": FP,
        "digest": DIGEST, "platforms": {"linux/amd64": OTHER}, "base": "", "parent": None}}}


def test_the_stack_parent_round_trips_and_older_files_record_none(tmp_path: Path) -> None:
    entry = LockEntry("app", "localhost:5000/t/app:2", FP, DIGEST, {}, "", "localhost:5000/t/sdk:1")
    path = write_lockfile(tmp_path / "lock.json", "run-1", [entry, replace(entry, node="root", parent="")])
    assert read_lockfile(path) == [entry, replace(entry, node="root", parent="")]
    old = write_json(tmp_path / "old.json", {"version": VERSION, "nodes": {"a": item()}})
    assert read_lockfile(old)[0].parent is None  # written before parents were recorded
    bad = write_json(tmp_path / "bad.json", {"version": VERSION, "nodes": {"a": item(parent="sdk 1")}})
    with pytest.raises(LockfileError, match="node 'a' has a malformed parent ref"):
        read_lockfile(bad)


def test_the_base_a_node_is_built_on_round_trips(tmp_path: Path) -> None:
    base = f"openeuler/openeuler:24.03@{OTHER}"
    entry = LockEntry("onext", "localhost:5000/t/onext:6", FP, DIGEST, {}, base)
    path = write_lockfile(tmp_path / "lock.json", "run-1", [entry])
    assert json.loads(path.read_text(encoding="utf-8"))["nodes"]["onext"]["base"] == (
        f"openeuler/openeuler:24.03@{OTHER}")
    assert read_lockfile(path) == [entry]
    old = write_json(tmp_path / "old.json", {"version": VERSION, "nodes": {"a": item()}})
    assert read_lockfile(old)[0].base == ""  # lockfiles written before bases were recorded


def test_a_base_not_pinned_by_digest_is_refused(tmp_path: Path) -> None:
    data = {"version": VERSION, "nodes": {"a": item(base="openeuler/openeuler:24.03")}}
    with pytest.raises(LockfileError) as caught:
        read_lockfile(write_json(tmp_path / "lock.json", data))
    assert "node 'a' has a base that is not pinned by digest: 'openeuler/openeuler:24.03'" in (
        str(caught.value))
    assert caught.value.exit_code == 2


def test_write_replaces_an_older_lockfile(tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    write_lockfile(path, "run-1", [lock_entry("a"), lock_entry("b", "localhost:5000/x/b:1")])
    write_lockfile(path, "run-2", [lock_entry("c", "localhost:5000/x/c:1")])
    assert [e.node for e in read_lockfile(path)] == ["c"]
    assert json.loads(path.read_text(encoding="utf-8"))["run"] == "run-2"


def test_empty_lockfile_round_trips(tmp_path: Path) -> None:
    assert read_lockfile(write_lockfile(tmp_path / "lock.json", "r", [])) == []


def test_missing_platforms_default_to_empty(tmp_path: Path) -> None:
    data = item()
    del data["platforms"]
    path = write_json(tmp_path / "lock.json", {"version": 1, "nodes": {"a": data}})
    assert read_lockfile(path) == [LockEntry("a", "localhost:5000/t/a:1", FP, DIGEST, {})]


def test_repository_is_the_ref_without_its_tag() -> None:
    assert lock_entry().repository == "localhost:5000/stackbuild/framework"
    assert LockEntry("a", "localhost:5000/a:1", FP, DIGEST).repository == "localhost:5000/a"


def test_an_unreadable_lockfile_is_an_engine_error_with_exit_code_2(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as caught:  # what the CLI catches
        read_lockfile(tmp_path / "missing.json")
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"cannot read lockfile {tmp_path / 'missing.json'}: ")


# --- malformed files ----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(LockfileError) as caught:
        read_lockfile(path)
    assert str(caught.value) == (
        f"cannot read lockfile {path}: No such file or directory {HINT}")


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    path.write_text("{nodes", encoding="utf-8")
    with pytest.raises(LockfileError) as caught:
        read_lockfile(path)
    assert str(caught.value) == (f"cannot read lockfile {path}: Expecting property name enclosed in double "
                                 f"quotes: line 1 column 2 (char 1) {HINT}")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(LockfileError, match=r"^cannot read lockfile .*utf-8"):
        read_lockfile(path)


@pytest.mark.parametrize("data", [
    [],
    "lock",
    {"nodes": {}},
    {"version": 2, "nodes": {}},
    {"version": "1", "nodes": {}},
    {"version": 1},
    {"version": 1, "nodes": []},
    {"version": 1, "nodes": None},
])
def test_not_a_lockfile(tmp_path: Path, data: Any) -> None:
    path = write_json(tmp_path / "lock.json", data)
    with pytest.raises(LockfileError) as caught:
        read_lockfile(path)
    assert str(caught.value) == f"{path} is not a stackbuild lockfile (version 1) {HINT}"
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("bad", [
    {"node": None},  # removed below: a missing key
    {"ref": None},
    {"fingerprint": None},
    {"digest": None},
    "not a mapping",
    ["node", "ref"],
    {"platforms": None},
    {"platforms": "linux/amd64"},
    {"platforms": 5},
])
def test_an_entry_lacking_fields(tmp_path: Path, bad: Any) -> None:
    if isinstance(bad, dict):
        value = item(**{k: v for k, v in bad.items() if v is not None})
        for key in (k for k, v in bad.items() if v is None):
            if key == "platforms":
                value["platforms"] = None
            else:
                del value[key]
    else:
        value = bad
    path, error = refused(tmp_path, value)
    assert error == f"{path}: node 'a' lacks node/ref/fingerprint/digest {RESTORE}"


@pytest.mark.parametrize("ref", [
    "",
    "debian",  # no repository path, no tag
    "localhost:5000/stackbuild/debian",  # no tag
    "localhost:5000/Stackbuild/debian:12",  # upper case in the repository path
    "localhost:5000/stackbuild/debian:-12",  # a tag cannot start with '-'
    "localhost:5000/stackbuild/debian:" + "t" * 129,  # a tag is at most 128 characters
    "localhost:5000/stackbuild/debian:12 --push",
    "localhost:5000/stackbuild/debian:12\n",
    "-localhost:5000/a:1",
    f"localhost:5000/stackbuild/debian@{DIGEST}",  # a digest is no tag to move
])
def test_a_malformed_ref_is_rejected(tmp_path: Path, ref: str) -> None:
    path, error = refused(tmp_path, item(ref=ref))
    assert error == f"{path}: node 'a' has a malformed ref or digest {RESTORE}"


@pytest.mark.parametrize("digest", [
    "",
    "a" * 64,
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "sha256:" + "A" * 64,
    "sha512:" + "a" * 64,
    "sha256:" + "g" * 64,
    "sha256:" + "a" * 64 + "\n",
])
def test_a_malformed_digest_is_rejected(tmp_path: Path, digest: str) -> None:
    path, error = refused(tmp_path, item(digest=digest))
    assert error == f"{path}: node 'a' has a malformed ref or digest {RESTORE}"


@pytest.mark.parametrize("ref", [
    "localhost:5000/t/a:1",
    "127.0.0.1:5000/app:v1.2.3",
    "registry.example.com/team/app:latest",
    "ghcr.io/org/a/b/c:tag-dev",
    "localhost:5000/stackbuild/llm:chat2gram-numpy2.2.6-cpu-py311-deb12-dev",
    "library/ubuntu:22.04",
    "localhost:5000/a__b/c-d.e:_t",
])
def test_well_formed_refs_are_accepted(tmp_path: Path, ref: str) -> None:
    path = write_json(tmp_path / "lock.json", {"version": 1, "nodes": {"a": item(ref=ref)}})
    assert read_lockfile(path)[0].ref == ref


@pytest.mark.parametrize("field", [{"node": "a\x1b]0;pwned\x07"}, {"fingerprint": "\u202e" + FP}])
def test_control_characters_in_a_node_or_fingerprint_are_rejected(tmp_path: Path,
                                                                  field: dict[str, str]) -> None:
    # before: accepted, and `promote` printed the node raw in its refusal of a foreign tag
    path, error = refused(tmp_path, item(**field))
    assert error == f"{path}: node 'a' has a control character in its node or fingerprint {RESTORE}"


def test_the_first_bad_entry_is_named(tmp_path: Path) -> None:
    nodes = {"good": item(node="good"), "bad": item(node="bad", digest="sha256:short")}
    path = write_json(tmp_path / "lock.json", {"version": 1, "nodes": nodes})
    with pytest.raises(LockfileError, match="node 'bad' has a malformed ref or digest"):
        read_lockfile(path)


@pytest.mark.parametrize("text", ['{"version": 1, "run": "r0", "nodes": {"a": ' + json.dumps(item())
                                  + ', "b": ' + json.dumps(item(node="b", digest="sha256:bad")) + "}}",
                                  '{"version": 1, "run": "r0", "nodes": {"a": {"node": "a", "r'])
def test_an_unreadable_latest_lockfile_is_kept_aside_not_overwritten(text: str, tmp_path: Path) -> None:
    latest = tmp_path / "latest.lock.json"
    latest.write_text(text, encoding="utf-8")
    # what a publishing run does: merge the old lockfile's other nodes, then write the new one
    write_lockfile(latest, "r1", merge_entries(latest, [lock_entry()], {"numpy", "a", "b"}))
    assert [entry.node for entry in read_lockfile(latest)] == ["numpy"]
    kept = [path for path in tmp_path.iterdir() if path.name.startswith("latest.lock.json.unreadable-")]
    assert [path.read_text(encoding="utf-8") for path in kept] == [text]  # before: overwritten, lost
