"""results.md: the human view of results.json (its targets judged by bench.judge)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.planner import PHASES

HISTORY = ("Earlier runs of this benchmark, the measurements made between them (where a run's time goes, "
           "designs tried and dropped, the lower bound of one BuildKit session for a PR) and the code each "
           "ran are in [history.md](history.md) and history.json; this file is what the latest `make bench` "
           "wrote.")

SUBTREE_TEXT = ("After each PR pair, a fresh edit of the same Dockerfile and one `docker buildx bake` of "
                "only the targets it rebuilds (children on `target:` contexts, the subtree's roots on their "
                "unchanged parents by digest): the least any tool that rebuilds only what changed needs "
                "here, before its own start-up and checks.")


def _s(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def markdown(results: dict[str, Any]) -> str:
    """results.md."""
    meta = results["meta"]
    machine = meta["machine"]
    lines = [
        "# Benchmarks", "",
        f"Run {machine['date']} in {meta['mode']} mode ({meta['duration_s']:.0f} s), `{meta['command']}`, "
        f"on {machine['nproc']} × {machine['cpu_model']}, {machine['memory_gb']} GB memory, "
        f"Linux {machine['kernel']}, Python {machine['python']}"
        + (f", Docker {machine['docker']}, {machine['buildx']}, builder {machine.get('builder') or '?'}"
           if "docker" in machine else "") + ".",
        f"Load average at the start {machine['load_average']}, at the end {meta['load_average_end']} "
        "(the machine is shared: other work running at the same time slows both tools alike).",
        f"Source: {meta.get('git', '?')}.", "",
    ]
    lines += ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {row['target']} | {row['measured']} | {'yes' if row['met'] else '**no**'} |"
              for row in results["targets"]]
    lines += ["", *_section("stackbuild beside docker buildx bake", results.get("engine", {}), _engine),
              *_section("Planner at scale", results.get("planner", {}), _planner),
              *_section("Scheduler quality", results.get("scheduler", {}), _scheduler)]
    notes = results.get("notes", [])
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    lines += ["## Earlier runs", "", HISTORY, ""]
    return "\n".join(lines).rstrip() + "\n"


def _section(title: str, results: dict[str, Any], body: Callable[[dict[str, Any]], list[str]]) -> list[str]:
    """A `## title` section: body(results), or why it was not run."""
    if "skipped" in results:
        return [f"## {title}", "", f"Not run: {results['skipped']}.", ""]
    return [f"## {title}", "", *body(results)]


def _engine(engine: dict[str, Any]) -> list[str]:
    """The section comparing stackbuild with docker buildx bake."""
    return [*_engine_timings(engine), *_engine_requests(engine["scenarios"]),
            *_engine_profiles(engine["scenarios"]), *_engine_errors(engine["scenarios"]), ""]


def _engine_timings(engine: dict[str, Any]) -> list[str]:
    """How the tools were run, and one table row of times, solves and requests per scenario."""
    lines = [
        f"Same default buildx builder, one throwaway registry behind the counting proxy (bench/proxy.py). "
        f"stackbuild: `stackbuild build --jobs {engine['stackbuild_jobs']} --keep-going --no-test` (default "
        "registry layer cache; `--full` for nightly). bake: `docker buildx bake -f <stackbuild export bake> "
        "--push` (`--no-cache --pull` for nightly). Wall times in seconds, min / median over the runs; "
        "ratio = stackbuild median / bake median (below 1: stackbuild faster); solves = buildx builds "
        "(stackbuild: RunReport.buildx_invocations; bake: targets in its metadata file); requests = "
        "registry requests through the proxy (median per run).", "",
        "| stack | scenario | runs | stackbuild s | bake s | ratio | speed-up | solves sb / bake "
        "| requests sb / bake | manifest req. per node sb / bake |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in engine["scenarios"]:
        sb, bake = entry["stackbuild"], entry["bake"]
        failed = "" if sb["ok"] and bake["ok"] else " (FAILED runs)"
        lines.append(
            f"| {entry['stack']} ({entry['nodes']} nodes) | {entry['scenario']}{failed} | {entry['reps']} "
            f"| {_s(sb['min'])} / {_s(sb['median'])} | {_s(bake['min'])} / {_s(bake['median'])} "
            f"| {entry['ratio']} | {entry['speedup']}× | {_median(sb['solves'])} / {_median(bake['solves'])} "
            f"| {sb['requests'].get('total', 0):g} / {bake['requests'].get('total', 0):g} "
            f"| {entry['manifest_requests_per_node']} / "
            f"{round(bake['requests'].get('manifests', 0) / entry['nodes'], 2)} |")
    return [*lines, *_subtree_lines(engine["scenarios"])]


def _subtree_lines(scenarios: list[dict[str, Any]]) -> list[str]:
    """The bake of only what each PR change rebuilt, beside the whole bake of the same scenario."""
    rows = [(entry, entry["subtree_bake"]) for entry in scenarios if entry.get("subtree_bake")]
    if not rows:
        return []
    lines = ["", SUBTREE_TEXT, "",
             "| stack | rebuilt targets | runs | subtree bake s | whole bake s "
             "| speed-up over the whole bake | stackbuild's |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for entry, subtree in rows:
        failed = "" if subtree["ok"] else " (FAILED runs)"
        lines.append(f"| {entry['stack']} | {subtree['targets']}{failed} | {len(subtree['wall_s'])} "
                     f"| {_s(subtree['min'])} / {_s(subtree['median'])} | {_s(entry['bake']['median'])} "
                     f"| {subtree['speedup']}× | {entry['speedup']}× |")
    return lines


def _engine_requests(scenarios: list[dict[str, Any]]) -> list[str]:
    """The table of registry requests by kind, per scenario and tool."""
    lines = ["", "Registry requests by kind (median per run; TLS probes are HTTPS attempts answered by the "
             "proxy so the client falls back to HTTP, not counted as requests):", "",
             "| stack | scenario | tool | total | manifests | blobs | uploads | /v2/ | TLS probes "
             "| 500s retried |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for entry in scenarios:
        for tool in ("stackbuild", "bake"):
            req = entry[tool]["requests"]
            cells = " | ".join(f"{req.get(kind, 0):g}" for kind in (
                "total", "manifests", "blobs", "uploads", "base", "tls_probes", "read_retries"))
            lines.append(f"| {entry['stack']} | {entry['scenario']} | {tool} | {cells} |")
    return lines


def _engine_profiles(scenarios: list[dict[str, Any]]) -> list[str]:
    """Where a profiled no-op stackbuild build spends its time, per stack that has a profile."""
    lines: list[str] = []
    for entry in scenarios:
        profile = entry.get("stackbuild_profile")
        if profile:
            lines += ["", f"Where a no-op `stackbuild build` of {entry['stack']} spends its time (one extra "
                      f"run under cProfile, {profile['total_s']} s profiled; engine/ and graph/ functions "
                      "by cumulative time, module imports included):", "",
                      "| function | cumulative s | own s | calls |", "| --- | --- | --- | --- |"]
            lines += [f"| `{row['where']}` | {row['cumulative_s']} | {row['own_s']} | {row['calls']} |"
                      for row in profile["engine_graph_cumulative"]]
    return lines


def _engine_errors(scenarios: list[dict[str, Any]]) -> list[str]:
    """The tail of each failed run's error, per stack, scenario and tool."""
    errors = [(entry["stack"], entry["scenario"], tool, error) for entry in scenarios
              for tool in ("stackbuild", "bake") for error in entry[tool]["errors"]]
    lines: list[str] = []
    for stack, scenario, tool, error in errors:
        lines += ["", f"{stack} {scenario} {tool} failed:", "", "```", error.strip()[-1200:], "```"]
    return lines


def _median(values: list[int]) -> str:
    ordered = sorted(values)
    return f"{ordered[len(ordered) // 2]:g}" if ordered else "-"


def _planner(planner: dict[str, Any]) -> list[str]:
    lines = [
        "Generated stacks (bench/synth.py: few OS × few SDKs × many frameworks × many apps, -dev variants, "
        "matrices, one tiny shared Dockerfile and context). Each run is a fresh subprocess; seconds, "
        "median of the runs (min in the total column first); peak RSS of the whole process "
        "(VmHWM); Python heap peak from a separate tracemalloc run. imports = importing graph/; "
        "load = reading and checking the YAML; affected = the affected set of a PR touching one "
        "framework definition; decide = the plan's actions.", "",
        "| workload | nodes | stack files | " + " | ".join(PHASES)
        + " | total s (min / median) | peak RSS MB | heap peak MB |",
        "| --- " * (len(PHASES) + 6) + "|",
    ]
    for size in planner["sizes"]:
        phases = " | ".join(f"{size['phases'][phase]['median']:.3f}" for phase in PHASES)
        total = f"{size['total_s']['min']:.3f} / {size['total_s']['median']:.3f}"
        lines.append(f"| {size['scale']} | {size['nodes']} | {size['stack_files']} | {phases} | {total} "
                     f"| {size['peak_rss_mb']} | {size['tracemalloc_peak_mb']} |")
    for size in planner["sizes"]:
        spots = size.get("hot_spots")
        if not spots:
            continue
        lines += ["", f"Profile of the {size['scale']} workload ({size['nodes']} nodes, cProfile; its "
                  "overhead inflates the times about 3–4×):", "",
                  "| graph/ function (cumulative) | cumulative s | own s | calls |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| `{row['where']}` | {row['cumulative_s']} | {row['own_s']} | {row['calls']} |"
                  for row in spots["graph_cumulative"]]
        lines += ["", "| most own time | own s | cumulative s | calls |", "| --- | --- | --- | --- |"]
        lines += [f"| `{row['where']}` | {row['own_s']} | {row['cumulative_s']} | {row['calls']} |"
                  for row in spots["own_time"]]
    return [*lines, ""]


def _scheduler(scheduler: dict[str, Any]) -> list[str]:
    lines = [
        "engine.build.scheduler.Scheduler running simulated builds (each node sleeps its duration, scaled so "
        "a one-job run of a graph takes 0.6–2 s). Makespans in the graph's unit, median of the "
        "runs, the exact discrete-event value of the same policy in brackets (the difference is thread "
        "wake-up latency). ours = longest remaining "
        "path first with recorded durations as weights; ours, no history = the same with equal weights "
        "(a first run); FIFO = plain topological order; bound = max(critical path, total work / jobs).", "",
    ]
    for graph in scheduler["graphs"]:
        unit = graph["unit"]
        lines += [f"**{graph['graph']}**: {graph['nodes']} nodes, durations {graph['durations']}, total work "
                  f"{graph['total_work']} {unit}, critical path {graph['critical_path']} {unit}.",
                  "", "| jobs | bound | ours | ours, no history | FIFO | FIFO / ours | ours / bound |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in graph["rows"]:
            cells = " | ".join(f"{row[policy]['median']} ({row[policy]['exact']})"
                               for policy in ("ours", "ours_no_history", "fifo"))
            lines.append(f"| {row['jobs']} | {row['lower_bound']} | {cells} | {row['ours_vs_fifo']} "
                         f"| {row['ours_vs_bound']} |")
        lines.append("")
    return lines
