"""bench.coldnightly without Docker: salting the generated stack, the rep order, the summary."""

from __future__ import annotations

from pathlib import Path

from bench import coldnightly, synth
from bench.workspace import Workspace


def workspace(root: Path) -> Workspace:
    stack = synth.write_build_stack(root)
    change = stack / "framework" / "a" / "Dockerfile"
    original = change.read_text(encoding="utf-8")
    return Workspace("synth", root, "stacks/synth", 29, change, original, (), "sb", "bake")


def contents(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): path.read_text(encoding="utf-8")
            for path in sorted(root.rglob("files/*.txt"))}


def test_a_salt_rewrites_every_generated_file_and_the_same_salt_gives_the_same_files(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    original = contents(tmp_path)
    coldnightly.salt(ws, "one")
    salted = contents(tmp_path)
    assert salted.keys() == original.keys() and len(salted) == 4 * 9
    assert all(salted[name] != original[name] for name in salted)
    assert len(set(salted.values())) == len(salted)  # no two contexts share a file
    coldnightly.salt(ws, "two")
    assert all(text != salted[name] for name, text in contents(tmp_path).items())
    coldnightly.salt(ws, "one")
    assert contents(tmp_path) == salted


def test_every_tool_goes_first_once_in_as_many_reps() -> None:
    tools = ["bake", "default", "none"]
    assert [coldnightly._rotated(tools, rep)[0] for rep in range(3)] == tools
    assert sorted(coldnightly._rotated(tools, 1)) == sorted(tools)


def run(tool: str, label: str, wall: float, requests: int = 10, ok: bool = True) -> dict[str, object]:
    return {"tool": tool, "label": label, "wall_s": wall, "ok": ok, "requests": {"total": requests}}


def test_the_summary_gives_median_ratios_and_the_ratio_of_each_rep() -> None:
    rows = [run("bake", "cold0", 10.0, 100), run("sb", "cold0", 20.0, 150),
            run("bake", "cold1", 20.0, 100), run("sb", "cold1", 30.0, 170),
            run("bake", "cold2", 30.0, 102), run("sb", "cold2", 15.0, 160, ok=False)]
    summary = coldnightly.summary(rows)
    assert summary["bake_median_s"] == 20.0 and summary["reps"] == 3
    assert summary["sb"] == {"median_s": 25.0, "ratio": 1.25, "rep_ratios": [2.0, 1.5], "requests": 160}
    assert summary["bake_requests"] == 100
