"""CI shards on a real engine: run each emitted job's command in order, then publish (or refuse to).

A tiny amd64 stack (FROM scratch + COPY): root → left, root → right, into the session's throwaway
registry. Each job gets its own state folder, as a separate CI runner would.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest
import yaml

from engine.cli.main import main
from engine.registry.client import RegistryClient
from engine.run import api

STACK = """\
stack: shard
registry: localhost:5000/shard
platforms: [linux/amd64]
nodes:
  root:  {kind: os, dockerfile: root/Dockerfile, tag: "1"}
  left:  {kind: sdk, parent: root, dockerfile: left/Dockerfile, tag: "1"}
  right: {kind: sdk, parent: root, dockerfile: right/Dockerfile, tag: "1"}
"""


def _write_stack(root: Path) -> None:
    base = root / "stacks" / "shard"
    stamp = time.time_ns()  # content no earlier session built: content tags are registry-wide
    for name in ("root", "left", "right"):
        (base / name).mkdir(parents=True)
        (base / name / f"{name}.txt").write_text(f"{name} {stamp}\n", encoding="utf-8")
        parent = "scratch" if name == "root" else "parent"
        dockerfile = f"FROM {parent}\nCOPY {name}.txt /{name}.txt\n"
        (base / name / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (base / "stack.yaml").write_text(STACK, encoding="utf-8")


def _emit(root: Path, prefix: str, kind: str) -> dict[str, tuple[list[str], list[str]]]:
    """The emitted jobs: id → (stackbuild argv without the program name, needs), in document order."""
    out = root / "shards.yml"
    assert main(["plan", "--root", str(root), "--registry", prefix, "--state-dir", str(root / "plan-state"),
                 "--emit", kind, "--out", str(out), "stacks/shard"]) == 0
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    jobs = document["jobs"] if kind == "github" else {k: v for k, v in document.items() if k != "stages"}
    result = {}
    for job, body in jobs.items():
        line = body["steps"][-1]["run"] if kind == "github" else body["script"][0]
        argv = shlex.split(line)
        assert argv[0] == "stackbuild"
        result[job] = (argv[1:], list(body.get("needs", [])))
    return result


def _run(root: Path, argv: list[str], runner: str) -> int:
    """One job on its own 'runner': a state folder of its own."""
    return main([*argv, "--root", str(root), "--state-dir", str(root / f"state-{runner}")])


def _human_tags(root: Path, prefix: str) -> dict[str, str | None]:
    options = api.Options(root=root, registry=prefix, state_dir=root / "probe")
    client = RegistryClient()
    return {name: client.digest(node.ref) for name, node in api.load(options).nodes.items()}


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_emitted_jobs_build_the_stack_and_publish(tmp_path: Path, registry: str, kind: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    prefix = f"{registry}/shards-{kind}-{time.time_ns()}"
    _write_stack(tmp_path)
    jobs = _emit(tmp_path, prefix, kind)
    assert list(jobs) == ["build-root", "build-left", "build-right", "publish"]
    done: set[str] = set()
    for job, (argv, needs) in jobs.items():
        assert set(needs) <= done, f"{job} runs before {needs}"
        if job == "publish":
            assert _human_tags(tmp_path, prefix) == {"root": None, "left": None, "right": None}
        assert _run(tmp_path, argv, job) == 0, capsys.readouterr()
        done.add(job)
    tags = _human_tags(tmp_path, prefix)
    assert all(tags.values()), tags
    # a job whose work another runner already did builds nothing
    assert _run(tmp_path, jobs["build-left"][0], "late") == 0
    assert "0 built" in capsys.readouterr().out


def test_publish_refuses_when_a_node_is_missing(tmp_path: Path, registry: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    prefix = f"{registry}/shards-missing-{time.time_ns()}"
    _write_stack(tmp_path)
    jobs = _emit(tmp_path, prefix, "github")
    capsys.readouterr()
    assert _run(tmp_path, jobs["build-left"][0], "early") != 0  # its parent is not built yet
    assert "root" in capsys.readouterr().err
    for job in ("build-root", "build-left"):  # build-right never ran
        assert _run(tmp_path, jobs[job][0], job) == 0
    capsys.readouterr()
    assert _run(tmp_path, jobs["publish"][0], "publish") != 0
    assert "not built and tested (no content tag in the registry): right (" in capsys.readouterr().err
    assert _human_tags(tmp_path, prefix) == {"root": None, "left": None, "right": None}
