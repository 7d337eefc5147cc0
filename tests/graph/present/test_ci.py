"""graph.present.ci: CI shards from a plan; golden files for the demo, `needs:` equal to the DAG's edges."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from graph.expand.assemble import load_graph
from graph.load.limits import Limits
from graph.plan.entries import BUILD, SKIP, PlanEntry, make_plan
from graph.present.ci import PUBLISH_JOB, Runner, build_needs, build_units, job_ids, levels, render

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).parent / "data"
TAIL = ["stacks/demo", "--registry", "localhost:5000/demo"]


def _demo_plan() -> tuple[PlanEntry, ...]:
    return make_plan(load_graph(ROOT, (Path("stacks/demo"),), Limits()), reason="not_checked")


def _entry(node: str, parent: str | None, action: str = BUILD) -> PlanEntry:
    return PlanEntry(node, "s", "sdk", f"r/{node}:1", parent, ("linux/amd64",), action, "test")


def _jobs(text: str, kind: str) -> dict[str, dict[str, object]]:
    document = yaml.safe_load(text)
    return document["jobs"] if kind == "github" else {k: v for k, v in document.items()
                                                      if k not in ("stages", "variables", "default")}


def _command(job: dict[str, object], kind: str) -> list[str]:
    line = job["steps"][-1]["run"] if kind == "github" else job["script"][0]  # type: ignore[index]
    return shlex.split(str(line))


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_demo_matches_its_golden_file(kind: str) -> None:
    text = render(_demo_plan(), kind, TAIL)
    golden = DATA / f"demo-{kind}.yml"
    if os.environ.get("STACKBUILD_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_golden_needs_are_the_dag_edges_among_nodes_to_build(kind: str) -> None:
    plan = _demo_plan()
    built = {e.node: e for e in plan if e.action == BUILD}
    jobs = _jobs((DATA / f"demo-{kind}.yml").read_text(encoding="utf-8"), kind)
    node_of = {job: _command(body, kind)[3] for job, body in jobs.items() if job != PUBLISH_JOB}
    assert sorted(node_of.values()) == sorted(built)
    edges = {(node_of[need], node_of[job]) for job in node_of for need in jobs[job].get("needs", [])}
    assert edges == {(e.parent, e.node) for e in built.values() if e.parent in built}
    assert len(edges) > 3  # the demo has real chains
    assert sorted(jobs[PUBLISH_JOB]["needs"]) == sorted(node_of)  # type: ignore[arg-type]
    assert _command(jobs[PUBLISH_JOB], kind) == ["stackbuild", "publish", *TAIL]
    for job, node in node_of.items():
        assert _command(jobs[job], kind) == ["stackbuild", "build", "--only", node, *TAIL]


def test_only_nodes_to_build_get_jobs_and_a_skipped_parent_is_no_need() -> None:
    plan = (_entry("a", None, SKIP), _entry("b", "a"), _entry("c", "b"), _entry("d", "a", SKIP))
    assert build_needs(plan) == {"b": (), "c": ("b",)}
    jobs = _jobs(render(plan, "github", []), "github")
    assert list(jobs) == ["build-b", "build-c", PUBLISH_JOB]
    assert "needs" not in jobs["build-b"]
    assert jobs["build-c"]["needs"] == ["build-b"]
    assert jobs[PUBLISH_JOB]["needs"] == ["build-b", "build-c"]


def test_nothing_to_build_leaves_only_publish() -> None:
    jobs = _jobs(render((_entry("a", None, SKIP),), "gitlab", []), "gitlab")
    assert jobs == {PUBLISH_JOB: {"stage": "publish", "needs": [], "script": ["stackbuild publish"]}}


def test_job_ids_are_sanitized_and_unique() -> None:
    ids = job_ids(["py3.11", "py3-11", "A.B", "--"])
    assert ids == {"py3.11": "build-py3-11", "py3-11": "build-py3-11-2", "A.B": "build-a-b",
                   "--": "build-node"}


def test_commands_are_quoted_for_the_shell() -> None:
    text = render((_entry("a", None),), "gitlab", ["my stacks/x;rm"])
    assert yaml.safe_load(text)["build-a"]["script"] == ["stackbuild build --only a 'my stacks/x;rm'"]


def test_rendering_is_deterministic() -> None:
    plan = _demo_plan()
    assert render(plan, "github", TAIL) == render(tuple(plan), "github", TAIL)


def test_a_plan_larger_than_max_jobs_gets_one_job_per_level() -> None:
    plan = (_entry("a", None, SKIP), _entry("b", "a"), _entry("c", "b"), _entry("d", "b"), _entry("e", None))
    jobs = _jobs(render(plan, "gitlab", ["x"], max_jobs=3), "gitlab")
    assert list(jobs) == ["build-level-0", "build-level-1", PUBLISH_JOB]
    assert jobs["build-level-0"] == {"stage": "build", "needs": [],
                                     "script": ["stackbuild build --only b --only e x"]}
    assert jobs["build-level-1"]["needs"] == ["build-level-0"]
    assert _command(jobs["build-level-1"], "gitlab")[2:] == ["--only", "c", "--only", "d", "x"]
    assert jobs[PUBLISH_JOB]["needs"] == ["build-level-0", "build-level-1"]


def test_levels_put_every_parent_in_an_earlier_level() -> None:
    plan = _demo_plan()
    grouped = levels(plan)
    where = {node: depth for depth, nodes in enumerate(grouped) for node in nodes}
    assert sorted(where) == sorted(e.node for e in plan if e.action == BUILD)
    assert all(where[e.parent] < where[e.node] for e in plan if e.node in where and e.parent in where)


def test_gitlab_publish_waits_for_the_build_stage_when_needs_would_be_too_long() -> None:
    plan = tuple(_entry(f"n{i}", None) for i in range(51))
    jobs = _jobs(render(plan, "gitlab", []), "gitlab")
    assert "needs" not in jobs[PUBLISH_JOB] and jobs[PUBLISH_JOB]["stage"] == "publish"
    assert all(jobs[f"build-n{i}"]["needs"] == [] for i in range(51))
    github = _jobs(render(plan, "github", []), "github")
    assert len(github[PUBLISH_JOB]["needs"]) == 51  # type: ignore[arg-type]


def _borrowed(name: str, parent: str | None) -> PlanEntry:
    return replace(_entry(name, parent), borrowed=True)


def test_a_node_built_on_a_borrowed_parent_the_run_builds_goes_in_that_parents_job() -> None:
    # a --no-secrets PR: b is built on a's build made with the secrets (a is not built), c and d on b;
    # none gets a content tag, so c and d cannot find b from a job of their own
    plan = (_entry("a", None, SKIP), _borrowed("b", "a"), _borrowed("c", "b"), _borrowed("d", "c"),
            _entry("e", None), _entry("f", "e"))
    assert build_units(plan) == {"b": (("b", "c", "d"), ()), "e": (("e",), ()), "f": (("f",), ("e",))}
    jobs = _jobs(render(plan, "github", ["x"]), "github")
    assert list(jobs) == ["build-b", "build-e", "build-f", PUBLISH_JOB]
    assert _command(jobs["build-b"], "github")[2:] == ["--only", "b", "--only", "c", "--only", "d", "x"]
    assert levels(plan) == [["b", "c", "d", "e"], ["f"]]  # a unit's nodes on its level


def test_jobs_of_a_pr_check_out_the_whole_history() -> None:
    plan = (_entry("a", None),)
    github = _jobs(render(plan, "github", [], runner=Runner(history=True)), "github")
    assert github["build-a"]["steps"][0] == {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}
    assert github[PUBLISH_JOB]["steps"][0] == {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}
    assert "with" not in _jobs(render(plan, "github", []), "github")["build-a"]["steps"][0]
    gitlab = yaml.safe_load(render(plan, "gitlab", [], runner=Runner(history=True)))
    assert gitlab["variables"] == {"GIT_DEPTH": 0}
    assert "variables" not in yaml.safe_load(render(plan, "gitlab", []))


def test_a_node_waits_for_the_job_of_its_sbom_generator() -> None:
    # app is scanned by the image of g, built in the same run: app's job needs g's (its plan holds g)
    plan = (_entry("g", None), replace(_entry("app", None), after=("g",)))
    assert build_needs(plan) == {"g": (), "app": ("g",)}
    assert _jobs(render(plan, "github", []), "github")["build-app"]["needs"] == ["build-g"]
    assert levels(plan) == [["g"], ["app"]]


def test_a_borrowed_unit_can_wait_for_a_job_whose_node_comes_later_in_the_plan() -> None:
    # c is built on a (borrowed: one job) and scanned by w (its own job): the unit of a waits for w's
    plan = (_borrowed("a", "x"), _entry("w", None), replace(_borrowed("c", "a"), after=("w",)))
    assert build_units(plan) == {"a": (("a", "c"), ("w",)), "w": (("w",), ())}
    assert levels(plan) == [["w"], ["a", "c"]]
    jobs = _jobs(render(plan, "gitlab", []), "gitlab")
    assert jobs["build-a"]["needs"] == ["build-w"]


def test_jobs_run_where_the_runner_says_after_its_setup_commands() -> None:
    plan = (_entry("a", None), _entry("b", "a"))
    runner = Runner(labels=("self-hosted", "docker"), image="registry.example/ci:1",
                    setup=("make setup", "echo $TOKEN | docker login -u ci --password-stdin r.example"))
    github = _jobs(render(plan, "github", ["x"], runner=runner), "github")
    for job in ("build-a", "build-b", PUBLISH_JOB):
        assert github[job]["runs-on"] == ["self-hosted", "docker"]
        assert github[job]["container"] == "registry.example/ci:1"
        steps = github[job]["steps"]
        assert [step.get("run") for step in steps[1:3]] == list(runner.setup)  # type: ignore[union-attr]
    one_label = _jobs(render(plan, "github", [], runner=Runner(labels=("big",))), "github")
    assert one_label["build-a"]["runs-on"] == "big"
    gitlab = yaml.safe_load(render(plan, "gitlab", ["x"], runner=runner))
    assert gitlab["default"] == {"image": "registry.example/ci:1", "tags": ["self-hosted", "docker"],
                                 "before_script": list(runner.setup)}
    assert "default" not in yaml.safe_load(render(plan, "gitlab", ["x"]))


# YAML 1.2's core schema (its spec, 10.3.2): the plain scalars it resolves to null, bool, int or float
CORE_NOT_STR = re.compile(r"|~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+"
                          r"|0x[0-9a-fA-F]+|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
                          r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def _strings_a_yaml_12_reader_takes_for_others(text: str) -> list[str]:
    """The scalars PyYAML reads as strings that a YAML 1.2 core-schema reader reads as something else."""
    found, nodes = [], [yaml.compose(text)]
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:str" and not node.style and CORE_NOT_STR.fullmatch(node.value):
                found.append(node.value)
        elif isinstance(node, yaml.MappingNode):
            nodes += [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            nodes += node.value
    return found


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_runner_values_a_yaml_12_reader_would_take_for_numbers_stay_strings(kind: str) -> None:
    # PyYAML's YAML 1.1 resolver reads each as a string and wrote it plain: a YAML 1.2 reader got 1000.0
    runner = Runner(labels=("1e3", "+1E5", "08:30", "1,000"), image="08",
                    setup=("0o17", ".5e1", "0x1F", "-.inf", "~", "yEs", "nULL", ":foo", "2026-1-7", ".Nan"))
    text = render((_entry("a", None),), kind, ["x"], runner=runner)
    # each also one Ruby's Psych (GitLab) reads as a number, bool, nil, symbol or date when plain
    for value in (*runner.labels, runner.image, *runner.setup):
        assert f"'{value}'\n" in text, value
    assert _strings_a_yaml_12_reader_takes_for_others(text) == []
    document = yaml.safe_load(text)
    if kind == "github":
        job = document["jobs"]["build-a"]
        assert (job["runs-on"], job["container"]) == (list(runner.labels), runner.image)
        assert [step.get("run") for step in job["steps"][1:-1]] == list(runner.setup)
    else:
        assert document["default"] == {"image": runner.image, "tags": list(runner.labels),
                                       "before_script": list(runner.setup)}
