"""cli: argv in, exit code out; bad input is a one-line message, never a traceback."""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

import engine.build.builder
from engine.build.request import BASE_DIGEST_LABEL, BASE_NAME_LABEL
from engine.cli import commands, exits
from engine.cli import main as cli
from engine.cli.options import options_of
from engine.errors import EngineUnavailable
from engine.run import api, publishing
from engine.state.lockfile import read_lockfile, write_lockfile
from engine.state.report import RunReport, new_run
from tests.engine.cli.clifakes import DEMO_CA, CheckedBuilder, installed_builder
from tests.engine.engine_fakes import (
    NODES,
    REGISTRY,
    STACK,
    FakeBuilder,
    FakeRegistry,
    commit_all,
    fork,
    git,
    human_ref,
    record_file_reads,
    trust_fresh_files,
    write_stack,
)

ROOT = Path(__file__).resolve().parents[3]
MIRROR = "mirror.example:5000/ci"


def demo_names() -> list[str]:
    return [e.node for e in api.plan(api.Options(root=ROOT, targets=(Path("stacks/demo"),)))]


def plan(*args: str) -> int:
    return cli.main(["plan", "stacks/demo", "--root", str(ROOT), "--log-format", "json", "--offline",
                     *DEMO_CA, *args])


# --- bad input ----------------------------------------------------------------------------------

HEAD = """\
        stack: bad
        registry: localhost:5000/x
        nodes:
          a:
            kind: os
            tag: "1"
"""

BAD_STACKS = {  # text, expected line (0: any), expected message
    "unknown kind": ("""\
        stack: bad
        registry: localhost:5000/x
        nodes:
          a:
            kind: banana
            tag: "1"
        """, 5, "unknown kind 'banana'"),
    "unknown parent": (HEAD + """\
          b:
            kind: sdk
            parent: nope
            dockerfile: a/Dockerfile
            tag: "2"
        """, 7, "parent 'nope' is not defined"),
    "missing dockerfile": (HEAD + """\
          b:
            kind: os
            dockerfile: missing/Dockerfile
            tag: "2"
        """, 9, "does not exist"),
    "invalid yaml": ("""\
        stack: bad
        registry: localhost:5000/x
        nodes:
          a: {kind: os, tag: "1"
          b: 2
        """, 5, "invalid YAML"),
    "duplicate key": (HEAD + """\
          a:
            kind: os
            tag: "2"
        """, 7, "duplicate key 'a'"),
    "cycle": ("""\
        stack: bad
        registry: localhost:5000/x
        nodes:
          a: {kind: os, parent: b, tag: "1"}
          b: {kind: os, parent: a, dockerfile: a/Dockerfile, tag: "2"}
        """, 0, "parent cycle"),
}


def write_bad_stack(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "stacks" / "bad"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    stack_file = folder / "stack.yaml"
    stack_file.write_text(textwrap.dedent(text), encoding="utf-8")
    return stack_file


@pytest.mark.parametrize("case", BAD_STACKS)
def test_bad_stack_is_exit_2_with_file_line_and_no_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    text, line, message = BAD_STACKS[case]
    write_bad_stack(tmp_path, text)
    code = cli.main(["plan", "--root", str(tmp_path), "--log-format", "json", "--offline"])
    out, err = capsys.readouterr()
    assert code == 2 == exits.EXIT_BAD_INPUT
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    if line:
        assert err.startswith(f"error: stacks/bad/stack.yaml:{line}: "), err
    else:  # the line of whichever node the cycle is reported at
        assert err.startswith("error: stacks/bad/stack.yaml:"), err
        assert err.split(":")[2].strip().isdigit(), err
    assert message in err


def test_bad_stack_named_explicitly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, line, message = BAD_STACKS["unknown kind"]
    write_bad_stack(tmp_path, text)
    code = cli.main(["plan", "stacks/bad/stack.yaml", "--root", str(tmp_path), "--offline"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: stacks/bad/stack.yaml:{line}: {message}")
    assert "Traceback" not in err


def test_no_stack_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["plan", "--root", str(tmp_path), "--log-format", "json", "--offline"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("error: no stack at stacks")
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["build", "--jobs", "0"],
    ["build", "--jobs", "many"],
    ["build", "--keep-going", "--fail-fast"],
    ["plan", "--format", "yaml"],
])
def test_bad_arguments_exit_2_before_doing_anything(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_options_of_targets_root_and_state(tmp_path: Path) -> None:
    args = argparse.Namespace(root=str(tmp_path), registry="", state_dir="st", targets=[])
    options = options_of(args)
    assert options.targets == (Path("stacks"),)
    assert (options.root, options.state) == (tmp_path.resolve(), tmp_path.resolve() / "st")
    args.targets, args.registry = ["stacks/demo", "x/stack.yaml"], MIRROR
    options = options_of(args)
    assert options.targets == (Path("stacks/demo"), Path("x/stack.yaml"))
    assert options.registry == MIRROR


# --- plan ---------------------------------------------------------------------------------------


def test_plan_json_lists_every_node_in_build_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data["nodes"], list)
    names = demo_names()
    assert [entry["node"] for entry in data["nodes"]] == names
    assert data["summary"] == {"build": len(names), "skip": 0, "retag": 0, "external": 0}
    for entry in data["nodes"]:
        assert set(entry) == {"node", "stack", "kind", "ref", "parent", "platforms", "action",
                              "reason", "fingerprint", "digest", "base", "borrowed", "after"}
        assert (entry["action"], entry["reason"], entry["fingerprint"], entry["digest"]) == (
            "build", "not_checked", "", "")
        assert isinstance(entry["platforms"], list)


def test_plan_table_lists_every_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "NODE", "ACTION", "REASON", "PARENT", "PLATFORMS", "TAG"]
    names = demo_names()
    assert len(lines) == 2 + len(names)
    for index, (name, line) in enumerate(zip(names, lines[1:-1], strict=True), start=1):
        cells = line.split()
        assert cells[:4] == [str(index), name, "build", "not_checked"]
    assert lines[-1] == f"{len(names)} nodes: {len(names)} build"


def test_plan_full_offline_is_forced(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--format", "json", "--full") == 0
    entries = json.loads(capsys.readouterr().out)["nodes"]
    assert {(entry["action"], entry["reason"]) for entry in entries} == {("build", "forced")}


def test_plan_is_the_default_table_format(capsys: pytest.CaptureFixture[str]) -> None:
    plan()
    default = capsys.readouterr().out
    plan("--format", "table")
    assert capsys.readouterr().out == default


def test_plan_registry_flag_moves_every_ref(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--format", "json", "--registry", MIRROR) == 0
    refs = [entry["ref"] for entry in json.loads(capsys.readouterr().out)["nodes"]]
    assert len(refs) == len(demo_names())
    assert all(ref.startswith(MIRROR + "/") for ref in refs)


def test_plan_registry_from_environment(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKBUILD_REGISTRY", MIRROR)
    assert plan("--format", "json") == 0
    refs = [entry["ref"] for entry in json.loads(capsys.readouterr().out)["nodes"]]
    assert len(refs) == len(demo_names())
    assert all(ref.startswith(MIRROR + "/") for ref in refs)


def test_plan_writes_no_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--state-dir", str(tmp_path / "state")) == 0
    assert not (tmp_path / "state").exists()


# --- commands that ask the registry (a fake one) ------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository holding the tiny stack."""
    write_stack(tmp_path / "repo")
    return tmp_path / "repo"


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    """Every RegistryClient the CLI makes is this in-memory registry."""
    registry = FakeRegistry()
    monkeypatch.setattr(commands, "RegistryClient", lambda: registry)
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    monkeypatch.setattr(publishing, "RegistryClient", lambda: registry)
    return registry


@pytest.fixture
def fake_builder(monkeypatch: pytest.MonkeyPatch, fake_registry: FakeRegistry) -> CheckedBuilder:
    return installed_builder(monkeypatch, fake_registry)


def run(repo: Path, *args: str) -> int:
    state = str(repo.parent / "state")
    return cli.main([args[0], "--root", str(repo), "--state-dir", state, "--log-format", "json", *args[1:]])


def build_once(repo: Path, registry: FakeRegistry) -> RunReport:
    """A successful first build through the API, into the state folder the CLI uses."""
    report = api.build(api.Options(root=repo, targets=STACK, state_dir=repo.parent / "state"),
                       FakeBuilder(registry), registry=registry)
    assert report.status == "succeeded"
    return report


def test_plan_online_asks_the_registry(repo: Path, fake_registry: FakeRegistry,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo, "plan", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [(e["node"], e["action"], e["reason"]) for e in data["nodes"]] == [
        (name, "build", "not_in_registry") for name in NODES]
    assert dict(fake_registry.requests) == {"HEAD": 2 * len(NODES)}


def test_plan_after_a_build_is_all_skip(repo: Path, fake_registry: FakeRegistry,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    first = build_once(repo, fake_registry)
    capsys.readouterr()
    assert run(repo, "plan", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == {"build": 0, "skip": len(NODES), "retag": 0, "external": 0}
    assert {e["node"]: (e["reason"], e["digest"]) for e in data["nodes"]} == {
        name: ("up_to_date", first.nodes[name].digest) for name in NODES}


def test_plan_offline_never_asks_the_registry(repo: Path, fake_registry: FakeRegistry,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo, "plan", "--offline") == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{len(NODES)} nodes: {len(NODES)} build"
    assert sum(fake_registry.requests.values()) == 0


def test_plan_offline_reports_a_malformed_ignore_file_at_its_line(
        repo: Path, fake_registry: FakeRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "stacks" / "t" / "mid" / ".dockerignore").write_text("ok\n[a-\n", encoding="utf-8")
    assert run(repo, "plan", "--offline") == 2
    error = capsys.readouterr().err
    assert "stacks/t/mid/.dockerignore:2: malformed ignore pattern '[a-'" in error
    assert sum(fake_registry.requests.values()) == 0


def test_plan_offline_changed_since_never_asks_the_registry(
        repo: Path, fake_registry: FakeRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    commit_all(repo, "one")
    (repo / "stacks" / "t" / "mid" / "Dockerfile").write_text("FROM scratch\n# edited\n", encoding="utf-8")
    assert run(repo, "plan", "--offline", "--changed-since", "HEAD", "--format", "json") == 0
    entries = json.loads(capsys.readouterr().out)["nodes"]
    assert {e["node"]: (e["action"], e["reason"], e["digest"]) for e in entries} == {
        "base": ("skip", "unchanged_since_ref", ""), "other": ("skip", "unchanged_since_ref", ""),
        "side": ("skip", "unchanged_since_ref", ""), "mid": ("build", "dockerfile_changed", ""),
        "leaf": ("build", "parent_rebuilt: mid", "")}
    assert sum(fake_registry.requests.values()) == 0


def test_plan_changed_since_a_ref_that_moved_on_counts_only_the_branch(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fork(repo, upstream={"stacks/t/side/Dockerfile": "FROM scratch\n# main moved on\n"},
         branch={"stacks/t/mid/Dockerfile": "FROM scratch\n# the pr\n"})
    assert run(repo, "plan", "--offline", "--changed-since", "main", "--format", "json") == 0
    entries = json.loads(capsys.readouterr().out)["nodes"]
    assert {e["node"]: (e["action"], e["reason"]) for e in entries} == {
        "base": ("skip", "unchanged_since_ref"), "other": ("skip", "unchanged_since_ref"),
        "side": ("skip", "unchanged_since_ref"), "mid": ("build", "dockerfile_changed"),
        "leaf": ("build", "parent_rebuilt: mid")}


def test_plan_changed_since_an_unrelated_ref_is_exit_2(repo: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    commit_all(repo, "one")
    git(repo, "switch", "-q", "--orphan", "lone")
    git(repo, "commit", "-q", "--allow-empty", "-m", "unrelated history")
    git(repo, "switch", "-q", "main")
    assert run(repo, "plan", "--offline", "--changed-since", "lone") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: 'lone' shares no history with HEAD in ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_build_command_builds_promotes_and_prints_a_summary(
        repo: Path, fake_builder: CheckedBuilder, fake_registry: FakeRegistry,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo, "build", "--no-test") == exits.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert sorted(fake_builder.order) == sorted(NODES)
    assert fake_builder.tests == []
    assert lines[:len(NODES)] == [
        f"{'succeeded':<12} {'build':<8} {name:<28} {fake_builder.digests[name]}" for name in NODES]
    assert lines[len(NODES)] == f"{len(NODES)} built, {len(NODES)} tags promoted, registry requests 52; " \
                                "status succeeded"
    assert lines[-1].startswith(f"report: {repo.parent / 'state' / 'runs'}/")
    assert lines[-1].endswith("/report.json")


def test_cache_local_without_a_folder_uses_the_state_folder(repo: Path, fake_builder: CheckedBuilder) -> None:
    assert run(repo, "build", "--no-test", "--cache", "local") == exits.EXIT_OK
    cache_from = fake_builder.requests["base"].cache_from
    assert cache_from.startswith(f"type=local,src={repo.parent / 'state' / 'cache'}/")


def test_build_command_hands_the_stall_timeout_to_the_builder(repo: Path,
                                                              fake_builder: CheckedBuilder) -> None:
    assert run(repo, "build", "--no-test", "--stall-timeout", "42") == exits.EXIT_OK
    assert fake_builder.stall_timeout_s == 42  # type: ignore[attr-defined]


def test_build_command_exit_1_when_a_node_fails(repo: Path, fake_builder: CheckedBuilder,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    fake_builder.fail = {"leaf"}
    assert run(repo, "build", "--keep-going") == exits.EXIT_FAILED
    out = capsys.readouterr().out
    assert f"{'failed':<12} {'build':<8} {'leaf':<28} -  node leaf: build failed with exit code 1" in out
    assert "0 tags promoted" in out
    assert out.splitlines()[-2].endswith("status failed")


class EngineDown(CheckedBuilder):
    """The fake builder over an engine that does not answer; counts the checks."""

    checks = 0

    def check(self) -> str:
        self.checks += 1
        raise EngineUnavailable("the Docker engine does not answer: down", "run `make setup` to start it")


def test_build_refuses_before_any_run_when_the_engine_is_down_and_something_is_to_build(
        repo: Path, fake_registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    builder = EngineDown(fake_registry)
    monkeypatch.setattr(engine.build.builder, "BuildxBuilder", lambda: builder)
    assert run(repo, "build", "--no-test") == EngineUnavailable.exit_code
    assert "error: the Docker engine does not answer: down" in capsys.readouterr().err
    assert (builder.checks, builder.order) == (1, [])
    assert not (repo.parent / "state" / "runs").exists()  # no run was started


def test_a_no_op_build_never_asks_the_engine(repo: Path, fake_registry: FakeRegistry,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    build_once(repo, fake_registry)
    builder = EngineDown(fake_registry)
    monkeypatch.setattr(engine.build.builder, "BuildxBuilder", lambda: builder)
    capsys.readouterr()
    assert run(repo, "build", "--no-test") == exits.EXIT_OK
    assert (builder.checks, builder.order) == (0, [])
    assert capsys.readouterr().out.splitlines()[len(NODES)].startswith("0 built, ")


def test_explain_names_the_changed_input(repo: Path, fake_registry: FakeRegistry,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    first = build_once(repo, fake_registry)
    capsys.readouterr()
    assert run(repo, "explain", "--node", "mid") == 0
    lines = capsys.readouterr().out.splitlines()
    mid = first.nodes["mid"]
    assert lines[:4] == ["node:         mid (sdk, stack t)", f"tag:          {human_ref('mid')}",
                         f"fingerprint:  {mid.fingerprint}",
                         f"content tag:  {REGISTRY}/mid:sb-{mid.fingerprint}"]
    assert f"registry:     content tag {mid.digest}; tag {mid.digest}" in lines
    assert lines[-3:] == [f"last build:   run {first.run_id}, fingerprint {mid.fingerprint[:16]}…",
                          "changed:      nothing", "verdict:      up to date"]
    write_stack(repo, arg="2")
    assert run(repo, "explain", "--node", "mid") == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"registry:     content tag absent; tag {mid.digest}" in lines
    assert lines[-2:] == ["changed:      args", "verdict:      args_changed"]


def test_explain_hashes_no_context_file_a_build_has_hashed(repo: Path, fake_registry: FakeRegistry,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    trust_fresh_files(monkeypatch)
    build_once(repo, fake_registry)
    reads = record_file_reads(monkeypatch)
    assert run(repo, "explain", "--node", "mid") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "verdict:      up to date"
    assert reads == []


def test_explain_unknown_node_suggests_close_names(repo: Path, fake_registry: FakeRegistry,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo, "explain", "--node", "mdi") == 2
    assert capsys.readouterr().err == "error: no node named 'mdi' (did you mean: mid)\n"


# --- promote ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "cannot read lockfile {path}: Expecting property name enclosed in double quotes: "
                  "line 1 column 2 (char 1) (name a lock.json written by a run)"),
    ('{"version": 2, "run": "r", "nodes": {}}',
     "{path} is not a stackbuild lockfile (version 1) (name a lock.json written by a run)"),
    ('{"version": 1, "run": "r", "nodes": {"a": {"node": "a"}}}',
     "{path}: node 'a' lacks node/ref/fingerprint/digest (restore the file from the run folder)"),
])
def test_promote_a_malformed_lockfile_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                fake_registry: FakeRegistry, text: str,
                                                message: str) -> None:
    path = tmp_path / "lock.json"
    path.write_text(text, encoding="utf-8")
    code = cli.main(["promote", str(path), "--state-dir", str(tmp_path / "state"), "--log-format", "json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == f"error: {message.format(path=path)}\n"
    assert sum(fake_registry.requests.values()) == 0
    assert not (tmp_path / "state").exists()  # refused before taking the state lock


def test_promote_takes_one_lockfile(repo: Path, capsys: pytest.CaptureFixture[str],
                                    fake_registry: FakeRegistry) -> None:
    first = build_once(repo, fake_registry)
    shutil.copy(first.lockfile, repo / "b.json")
    for second in ("b.json", "missing.json"):  # a lockfile, or a mistyped one
        assert run(repo, "promote", first.lockfile, "stacks", second) == 2
        assert capsys.readouterr().err == (f"error: promote takes one LOCKFILE; {second} after it would be "
                                           "read as stacks (STACKS are stack files or folders) (promote "
                                           "each lockfile on its own)\n")
    (repo / "stacks" / "t" / "stack.yaml").rename(repo / "stacks" / "t" / "stack.json")  # YAML reads JSON
    (repo / "stacks" / "t" / "stack.json").write_text(json.dumps(yaml.safe_load(
        (repo / "stacks" / "t" / "stack.json").read_text(encoding="utf-8"))), encoding="utf-8")
    assert run(repo, "promote", first.lockfile, "stacks/t/stack.json") == 0


def test_promote_a_missing_lockfile_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.json"
    assert cli.main(["promote", str(path), "--state-dir", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read lockfile {path}: No such file or directory")
    assert err.count("\n") == 1


def test_promote_a_lockfile_moves_its_tags_back(repo: Path, fake_registry: FakeRegistry,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    first = build_once(repo, fake_registry)
    other = fake_registry.push(f"{REGISTRY}/mid:sb-other", "another mid")  # a later publication
    fake_registry.labels[other] = {"org.stackbuild.stack": "t"}  # ours; a foreign one stays: test_ownership
    fake_registry.tag(f"{REGISTRY}/mid@{other}", human_ref("mid"))
    capsys.readouterr()
    assert run(repo, "promote", first.lockfile) == 0
    assert capsys.readouterr().out.splitlines() == [f"promoted {human_ref(name)}" for name in sorted(NODES)]
    assert fake_registry.refs[human_ref("mid")] == first.nodes["mid"].digest


def test_promote_refuses_a_child_that_would_not_rest_on_its_parent_with_exit_1(
        repo: Path, fake_registry: FakeRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    first = build_once(repo, fake_registry)
    for name in ("mid", "leaf"):  # both published again since, from another build of ours
        fake_registry.labels[fake_registry.push(human_ref(name), f"another {name}")] = {
            "org.stackbuild.stack": "t"}
    tags = dict(fake_registry.refs)
    only_leaf = [entry for entry in read_lockfile(Path(first.lockfile)) if entry.node == "leaf"]
    partial = write_lockfile(repo.parent / "leaf.lock.json", "r", only_leaf)
    capsys.readouterr()
    assert run(repo, "promote", str(partial)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    leaf, mid = first.nodes["leaf"].digest, first.nodes["mid"].digest
    assert err.startswith(f"error: not promoted: node leaf ({human_ref('leaf')} at {leaf}) on linux/amd64 "
                          f"was built on {human_ref('mid')}@{mid}, but that tag would point at "
                          f"{fake_registry.refs[human_ref('mid')]} (promote a lockfile ")
    assert err.endswith("no tag was moved)\n") and err.count("\n") == 1
    assert fake_registry.refs == tags


def test_promote_on_a_fresh_state_folder_compares_the_children_the_stacks_name(
        repo: Path, fake_registry: FakeRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    first = build_once(repo, fake_registry)
    leaf = fake_registry.push(human_ref("leaf"), "leaf on another mid")  # published since, built on mid's
    fake_registry.labels[leaf] = {"org.stackbuild.stack": "t", BASE_NAME_LABEL: human_ref("mid"),
                                  BASE_DIGEST_LABEL: "sha256:" + "e" * 64}
    only_mid = [entry for entry in read_lockfile(Path(first.lockfile)) if entry.node == "mid"]
    partial = write_lockfile(repo.parent / "mid.lock.json", "r", only_mid)
    fake_registry.tag(f"{REGISTRY}/mid@{fake_registry.push(f'{REGISTRY}/mid:x', 'another mid')}",
                      human_ref("mid"))
    tags = dict(fake_registry.refs)
    fresh = ["--state-dir", str(repo.parent / "elsewhere")]  # another machine: no latest.lock.json
    assert cli.main(["promote", str(partial), "--root", str(repo), *fresh, "--adopt"]) == 1
    assert f"error: not promoted: node leaf ({human_ref('leaf')} at {leaf})" in capsys.readouterr().err
    assert fake_registry.refs == tags
    (repo / "stacks").rename(repo / "images")  # stacks kept elsewhere are named after the lockfile
    assert cli.main(["promote", str(partial), "images/t", "--root", str(repo), *fresh, "--adopt"]) == 1
    assert f"error: not promoted: node leaf ({human_ref('leaf')} at {leaf})" in capsys.readouterr().err
    (repo / "images" / "t" / "stack.yaml").write_text("nodes: [", encoding="utf-8")  # the stacks broke
    assert cli.main(["promote", str(partial), "images", "--root", str(repo), *fresh, "--adopt",
                     "--log-format", "json"]) == 0
    out, err = capsys.readouterr()
    assert out == f"promoted {human_ref('mid')}\n"
    assert '"event": "rollback_check_partial"' in err and "images/t/stack.yaml" in err


# --- history ------------------------------------------------------------------------------------


def test_history_without_a_database_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["history", "--state-dir", str(tmp_path / "state"), "--log-format", "json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == (f"error: no build history at {tmp_path / 'state' / 'history.db'} "
                   "(run `stackbuild build` first)\n")
    assert not (tmp_path / "state" / "history.db").exists()


def test_history_lists_runs_and_the_nodes_of_one(repo: Path, fake_registry: FakeRegistry,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    first = build_once(repo, fake_registry)
    capsys.readouterr()
    assert run(repo, "history") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{'RUN':<34} {'MODE':<12} {'STATUS':<10} NODES BUILT FAILED",
        f"{first.run_id:<34} {'incremental':<12} {'succeeded':<10}     5     5      0"]
    assert run(repo, "history", "--run", first.run_id) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{name:<28} {'build':<8} {'succeeded':<10}      0.1s  not_in_registry" for name in NODES]
    assert run(repo, "history", "--run", "nope") == 0
    assert capsys.readouterr().out == "no run nope\n"


def test_build_check_reproducible_compares_platform_digests_and_publishes_nothing(
        repo: Path, fake_registry: FakeRegistry, fake_builder: CheckedBuilder,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.run import reproduce

    monkeypatch.setattr(reproduce, "RegistryClient", lambda: fake_registry)
    monkeypatch.setattr(fake_registry, "image_config", lambda reference, platform: {}, raising=False)
    build_once(repo, fake_registry)
    published = fake_registry.digest(human_ref("mid"))
    capsys.readouterr()
    # the fake builder pushes new content on every build: the check finds the layers differ
    assert run(repo, "build", "--check-reproducible", "mid") == 1
    out = capsys.readouterr().out.splitlines()
    [request] = fake_builder.requests.values()
    assert request.node == "mid" and request.tags[0].startswith(f"{REGISTRY}/mid:sbrepro-")
    assert request.no_cache and not request.cache_from and not request.cache_to
    assert fake_registry.digest(human_ref("mid")) == published  # the published tag did not move
    assert out[0].startswith(f"mid: NOT reproducible (published {REGISTRY}/mid:sb-")
    assert [line.split()[0] for line in out[1:]] == ["linux/amd64", "linux/arm64"]
    assert all(" != layer 2: " in line for line in out[1:]), out  # layer 1 is the parent's, the same
    assert run(repo, "build", "--check-reproducible", "nope") == 1
    assert "no built node named 'nope'" in capsys.readouterr().err


def test_the_summary_counts_builds_repeated_after_registry_faults_apart(tmp_path: Path) -> None:
    report = new_run(tmp_path)
    report.buildx_invocations, report.fault_repeats, report.status = 5, 2, "succeeded"
    assert commands.run_summary(report).splitlines()[0] == (
        "3 built (2 more after registry faults), 0 tags promoted, registry requests 0; status succeeded")
