"""CI shards from a plan: a GitHub Actions workflow or a GitLab child pipeline, one job per node to build.

Shape: GitHub Actions cannot make a job wait for one entry of a matrix, so every node to build gets
its own job (`build-<node>`), whose `needs:` lists the jobs of its parent and SBOM generator when those
are built too (one already in the registry is found by its content tag); a node that gets no content tag
(built by a --no-secrets PR on a build made with the secrets) is built in the job of what it is built on.
A final `publish` job needs every build job, so it runs only when all of them succeeded; it checks every
planned node's content tag and only then moves the human tags. A plan with more jobs than max_jobs
(GitHub allows 256 jobs in a workflow) gets one job per level instead (`build-level-<n>`: the nodes
of the units n waits away from one that waits for none), each needing the level before it.
Rendering is pure: the caller writes the text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import Any

import yaml

from graph.plan.entries import BUILD, PlanEntry

FORMATS = ("github", "gitlab")
PUBLISH_JOB = "publish"
RUNNER = "ubuntu-latest"
MAX_JOBS = 250  # GitHub Actions runs at most 256 jobs in one workflow
GITLAB_MAX_NEEDS = 50  # GitLab's default limit on a job's needs
_UNSAFE = re.compile(r"[^a-z0-9_-]+")
# plain scalars a CI's YAML reader may take for something else than a string are written quoted: YAML
# 1.2's core schema (GitHub) resolves some that PyYAML's YAML 1.1 resolver leaves plain (1e3, 08, 0o17,
# .5e1), Ruby's Psych (GitLab) more (08:30, 1,000, yEs, :symbol, 2026-1-7): any that starts like a number
# or symbol, or spells a bool or null in any case
_MAYBE_NOT_A_STRING = re.compile(r"(?i:y|n|yes|no|on|off|true|false|null)|~|[-+.:0-9].*|", re.DOTALL)


def job_ids(nodes: Sequence[str]) -> dict[str, str]:
    """A valid, unique job id per node: `build-` and the name with other characters turned into `-`."""
    ids: dict[str, str] = {}
    taken = {PUBLISH_JOB}
    for node in nodes:
        base = "build-" + (_UNSAFE.sub("-", node.lower()).strip("-") or "node")
        job, number = base, 2
        while job in taken:
            job, number = f"{base}-{number}", number + 1
        ids[node] = job
        taken.add(job)
    return ids


def build_units(plan: Sequence[PlanEntry]) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """The nodes to build in units of one job, in plan order, each keyed by its first node, with the
    units it waits for: those building its nodes' parents and SBOM generators. A unit is one node, but
    for a --no-secrets PR's nodes built on a build made with the secrets (entry.borrowed): they get no
    content tag another job could find them by, so such a node goes with those of them it is built on."""
    building = {entry.node: entry for entry in plan if entry.action == BUILD}
    unit_of = {name: name for name in building}

    def unit(name: str) -> str:
        while unit_of[name] != name:
            unit_of[name] = name = unit_of[unit_of[name]]  # path halving: chains stay short
        return name

    for name, entry in building.items():  # plan order: what a node is built on comes first
        for other in _built_on(entry, building):
            if entry.borrowed and building[other].borrowed:
                unit_of[unit(name)] = unit(other)
    members: dict[str, list[str]] = {}
    for name in building:
        members.setdefault(unit(name), []).append(name)
    first = {root: nodes[0] for root, nodes in members.items()}
    position = {name: index for index, name in enumerate(building)}
    return {nodes[0]: (tuple(nodes), _waits(nodes, building, unit, first, position))
            for nodes in members.values()}


def _built_on(entry: PlanEntry, building: Mapping[str, PlanEntry]) -> list[str]:
    """The nodes to build that entry's node is built on: its parent, its SBOM generator."""
    return [name for name in (entry.parent, *entry.after) if name and name in building]


def _waits(nodes: Sequence[str], building: Mapping[str, PlanEntry], unit: Callable[[str], str],
           first: Mapping[str, str], position: Mapping[str, int]) -> tuple[str, ...]:
    """The units (by first node) that the nodes of one unit wait for, in plan order."""
    own = unit(nodes[0])
    waits = {first[unit(other)] for name in nodes for other in _built_on(building[name], building)
             if unit(other) != own}
    return tuple(sorted(waits, key=position.__getitem__))


def build_needs(plan: Sequence[PlanEntry]) -> dict[str, tuple[str, ...]]:
    """Each unit of nodes to build (build_units), by its first node, with the units it waits for."""
    return {unit: waits for unit, (_, waits) in build_units(plan).items()}


def levels(plan: Sequence[PlanEntry]) -> list[list[str]]:
    """The nodes to build grouped by level: 0 for a unit that waits for none, else one more than the
    highest of those it waits for (every node of a unit on its unit's level), each level in plan order."""
    units = build_units(plan)
    level: dict[str, int] = {}
    # a unit of several nodes can wait for one whose first node comes later in the plan
    for unit in TopologicalSorter({unit: waits for unit, (_, waits) in units.items()}).static_order():
        level[unit] = max((level[w] + 1 for w in units[unit][1]), default=0)
    grouped: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for unit, (nodes, _) in units.items():
        grouped[level[unit]].extend(nodes)
    return grouped


@dataclass(frozen=True)
class Runner:
    """Where and how every job runs."""

    labels: tuple[str, ...] = ()  # GitHub runs-on (default ubuntu-latest), GitLab tags
    image: str = ""  # GitHub container, GitLab image ("" for the runner's own)
    setup: tuple[str, ...] = ()  # shell commands before stackbuild: GitHub run steps, GitLab before_script
    history: bool = False  # the jobs need the git history (PR mode: --changed-since): no shallow checkout


def render(plan: Sequence[PlanEntry], kind: str, command: Sequence[str], max_jobs: int = MAX_JOBS,
           build_flags: Sequence[str] = (), publish: bool = True, runner: Runner = Runner()) -> str:
    """The workflow (kind github) or child pipeline (kind gitlab) as YAML text.

    command is the stackbuild invocation's common tail (targets, --registry ...), added to each job's
    `stackbuild build --only NODE...` and to the final `stackbuild publish` (none unless publish);
    build_flags to the build jobs only (the operator's secret allowances).
    """
    units = build_units(plan)
    build_tail = [*command, *build_flags]
    if len(units) <= max_jobs:
        ids = job_ids(list(units))
        jobs = {ids[unit]: (_build_command(nodes, build_tail), tuple(ids[w] for w in waits))
                for unit, (nodes, waits) in units.items()}
    else:
        jobs = {f"build-level-{n}": (_build_command(nodes, build_tail), (f"build-level-{n - 1}",) * bool(n))
                for n, nodes in enumerate(levels(plan))}
    if publish:
        jobs[PUBLISH_JOB] = (shlex.join(["stackbuild", "publish", *command]), tuple(jobs))
    document = _github(jobs, runner) if kind == "github" else _gitlab(jobs, runner)
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=1000)


def _build_command(nodes: Sequence[str], command: Sequence[str]) -> str:
    return shlex.join(["stackbuild", "build", *(arg for node in nodes for arg in ("--only", node)), *command])


def _github(jobs: dict[str, tuple[str, tuple[str, ...]]], runner: Runner) -> dict[str, object]:
    """A workflow run by hand or from another workflow; one job per entry of jobs."""
    rendered: dict[str, object] = {}
    for job, (run, needs) in jobs.items():
        labels = list(runner.labels) or [RUNNER]
        body: dict[str, object] = {"runs-on": labels[0] if len(labels) == 1 else labels}
        if runner.image:
            body["container"] = runner.image
        if needs:
            body["needs"] = list(needs)
        body["steps"] = [_checkout(runner.history), *({"run": line} for line in runner.setup), {"run": run}]
        rendered[job] = body
    return {"name": "stackbuild shards", "on": {"workflow_dispatch": {}, "workflow_call": {}},
            "jobs": rendered}


def _checkout(history: bool) -> dict[str, object]:
    """The checkout step, new each time (safe_dump writes an alias for a repeated object)."""
    step: dict[str, object] = {"uses": "actions/checkout@v4"}
    if history:
        step["with"] = {"fetch-depth": 0}  # PR mode reads the merge base: no shallow clone
    return step


def _gitlab(jobs: dict[str, tuple[str, tuple[str, ...]]], runner: Runner) -> dict[str, object]:
    """A child pipeline: build jobs in stage build (started by needs:), publish (if any) in stage publish
    (needing every build job, or with more than GitLab allows in needs, waiting for the stage)."""
    rendered: dict[str, object] = {"stages": ["build", PUBLISH_JOB] if PUBLISH_JOB in jobs else ["build"]}
    if runner.history:
        rendered["variables"] = {"GIT_DEPTH": 0}  # 0: no shallow clone
    default = {"image": runner.image, "tags": list(runner.labels), "before_script": list(runner.setup)}
    if any(default.values()):
        rendered["default"] = {key: value for key, value in default.items() if value}
    for job, (script, needs) in jobs.items():
        body: dict[str, object] = {"stage": PUBLISH_JOB if job == PUBLISH_JOB else "build"}
        if len(needs) <= GITLAB_MAX_NEEDS:  # without needs: a job waits for every earlier stage
            body["needs"] = list(needs)
        rendered[job] = {**body, "script": [script]}
    return rendered


class _Dumper(yaml.SafeDumper):
    """safe_dump, but quoting every string a YAML 1.2 reader or Psych might take for another type."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> Any:
    if _MAYBE_NOT_A_STRING.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)
