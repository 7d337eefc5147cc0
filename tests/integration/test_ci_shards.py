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
from graph.model.secrets import SecretPolicy
from tests.engine.engine_fakes import commit_all

STACK = """\
stack: shard
registry: localhost:5000/shard
platforms: [linux/amd64]
nodes:
  root:  {kind: os, dockerfile: root/Dockerfile, tag: "1"}
  left:  {kind: sdk, parent: root, dockerfile: left/Dockerfile, tag: "1"}
  right: {kind: sdk, parent: root, dockerfile: right/Dockerfile, tag: "1"}
"""


# a PR's shards: left gains a child, root declares a secret (a run passing it is main's)
SECRET = 'secrets: [{id: tok, env: SB_SHARD_TOK}]'
PR_STACK = STACK.replace('tag: "1"}\n  left', f'tag: "1", {SECRET}}}\n  left') + \
    '  leaf:  {kind: framework, parent: left, dockerfile: leaf/Dockerfile, tag: "1"}\n'


def _write_stack(root: Path, stack: str = STACK) -> None:
    base = root / "stacks" / "shard"
    stamp = time.time_ns()  # content no earlier session built: content tags are registry-wide
    for name in yaml.safe_load(stack)["nodes"]:
        (base / name).mkdir(parents=True)
        (base / name / f"{name}.txt").write_text(f"{name} {stamp}\n", encoding="utf-8")
        parent = "scratch" if name == "root" else "parent"
        dockerfile = f"FROM {parent}\nCOPY {name}.txt /{name}.txt\n"
        (base / name / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (base / "stack.yaml").write_text(stack, encoding="utf-8")


def _emit(root: Path, prefix: str, kind: str, *extra: str) -> dict[str, tuple[list[str], list[str]]]:
    """The emitted jobs: id → (stackbuild argv without the program name, needs), in document order."""
    out = root / "shards.yml"
    assert main(["plan", "--root", str(root), "--registry", prefix, "--state-dir", str(root / "plan-state"),
                 "--emit", kind, "--out", str(out), "stacks/shard", *extra]) == 0
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    jobs = document["jobs"] if kind == "github" else {k: v for k, v in document.items()
                                                      if k not in ("stages", "variables")}
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


def _edit(root: Path, name: str) -> None:
    path = root / "stacks" / "shard" / name / f"{name}.txt"
    path.write_text(path.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")


def _run_in_order(root: Path, jobs: dict[str, tuple[list[str], list[str]]]) -> None:
    done: set[str] = set()
    for job, (argv, needs) in jobs.items():
        assert set(needs) <= done, f"{job} runs before {needs}"
        assert _run(root, argv, job) == 0, job
        done.add(job)


def test_a_prs_shards_build_the_parent_it_needs_and_publish_moves_only_the_changes_tags(
        tmp_path: Path, registry: str, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"{registry}/shards-pr-{time.time_ns()}"
    _write_stack(tmp_path, PR_STACK)
    monkeypatch.setenv("SB_SHARD_TOK", "main's token")
    commit_all(tmp_path, "shard stack")
    trusted = ["--secret-env-allow", "SB_SHARD_TOK", "--registry", prefix, "stacks/shard"]
    assert _run(tmp_path, ["build", *trusted], "main") == 0  # main publishes every node
    before = _human_tags(tmp_path, prefix)
    _edit(tmp_path, "root")
    commit_all(tmp_path, "root changed: merged, no run built it yet")
    _edit(tmp_path, "left")  # the PR
    jobs = _emit(tmp_path, prefix, "github", "--changed-since", "HEAD", "--secret-env-allow", "SB_SHARD_TOK")
    assert list(jobs) == ["build-root", "build-left", "build-leaf", "publish"]
    assert all(argv[argv.index("--changed-since") + 1] == "HEAD" for argv, _ in jobs.values())
    _run_in_order(tmp_path, jobs)
    after = _human_tags(tmp_path, prefix)
    assert after["root"] == before["root"] and after["right"] == before["right"]  # main's to move
    assert after["left"] != before["left"] and after["leaf"] != before["leaf"]


def test_a_no_secrets_prs_nodes_on_a_trusted_parent_build_in_one_job_and_are_never_published(
        tmp_path: Path, registry: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    prefix = f"{registry}/shards-fork-{time.time_ns()}"
    _write_stack(tmp_path, PR_STACK)
    monkeypatch.setenv("SB_SHARD_TOK", "main's token")
    commit_all(tmp_path, "shard stack")
    assert _run(tmp_path, ["build", "--secret-env-allow", "SB_SHARD_TOK", "--registry", prefix,
                           "stacks/shard"], "main") == 0
    _edit(tmp_path, "left")  # a fork's PR: its pipeline passes no secret
    jobs = _emit(tmp_path, prefix, "gitlab", "--changed-since", "HEAD", "--no-secrets")
    assert list(jobs) == ["build-left"]  # no content tag for left: a job of leaf's own could not find it
    assert jobs["build-left"][0][:5] == ["build", "--only", "left", "--only", "leaf"]
    capsys.readouterr()
    _run_in_order(tmp_path, jobs)
    assert "2 built" in capsys.readouterr().out
    options = api.Options(root=tmp_path, targets=(Path("stacks/shard"),), registry=prefix,
                          state_dir=tmp_path / "probe")
    planned = api.plan(options, RegistryClient(), changed_since="HEAD", secrets=SecretPolicy(withhold=True))
    fingerprints = {entry.node: entry.fingerprint for entry in planned}
    for name in ("left", "leaf"):  # built, yet still to build: no content tag of this run's fingerprint
        assert RegistryClient().digest(f"{prefix}/{name}:sb-{fingerprints[name]}") is None
    assert _run(tmp_path, ["publish", "--no-secrets", "--changed-since", "HEAD", "--registry", prefix,
                           "stacks/shard"], "publish") == 1
    assert "never published from --no-secrets shards: left, leaf" in capsys.readouterr().err
