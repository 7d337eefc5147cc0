"""A run's report from start to end, shared by registry and local builds: nodes in, outcomes, records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from engine.build.interrupt import StopEvent, exits_as_signal, interruptible
from engine.build.scheduler import SUCCEEDED, Outcome
from engine.console import logs
from engine.errors import EngineError, signal_exit_code
from engine.run.planner import Planned
from engine.run.runner import NodeRunner
from engine.run.settings import BuildSettings
from engine.state.history import History, NodeRecord
from engine.state.report import NodeReport, RunReport, finish, new_run
from engine.state.summaries import write_summaries
from graph.plan.changes import file_inputs
from graph.plan.entries import BUILD

DEFAULT_DURATION_S = 60.0  # the weight of a node never built before


def new_report(state: Path, planned: Planned, settings: BuildSettings) -> RunReport:
    """A written report of the run about to start: every planned node, pending or already done."""
    report = new_run(state)
    report.mode = "full" if settings.full else "pr" if settings.changed_since else "incremental"
    for entry in planned.entries:
        done = entry.action != BUILD
        report.nodes[entry.node] = NodeReport(
            entry.node, entry.ref, entry.action, entry.reason, status="succeeded" if done else "pending",
            fingerprint=entry.fingerprint, digest=entry.digest, base=entry.base,
            source=str(planned.graph.nodes[entry.node].location))
    report.write()
    return report


def weights(history: History, planned: Planned) -> Callable[[str], float]:
    """Each node's expected build time for the scheduler: its mean in the history, else the default."""
    known = {name: history.mean_duration(name) or DEFAULT_DURATION_S for name in planned.fingerprints}
    return lambda name: known.get(name, DEFAULT_DURATION_S)


def settle(report: RunReport, outcomes: Mapping[str, Outcome], stop: StopEvent,
           runner: NodeRunner) -> tuple[bool, bool]:
    """Each node's status from its outcome (interrupted when killed or never started); (ok, interrupted)."""
    interrupted = stop.is_set()
    report.signal = stop.signal
    for name, outcome in outcomes.items():
        cut_short = interrupted and outcome.status != SUCCEEDED
        report.nodes[name].status = "interrupted" if cut_short else outcome.status
        report.nodes[name].error = ("interrupted" if cut_short else report.nodes[name].error
                                    or ("" if outcome.status == SUCCEEDED else outcome.reason))
    report.buildx_invocations, report.fault_repeats = runner.invocations, runner.fault_repeats
    return not interrupted and all(outcome.status == SUCCEEDED for outcome in outcomes.values()), interrupted


def build_and_publish(history: History, report: RunReport, planned: Planned, runner: NodeRunner,
                      build: Callable[[StopEvent], Mapping[str, Outcome]],
                      publish: Callable[[bool, bool, StopEvent], bool],
                      around_build: AbstractContextManager[object] | None = None) -> None:
    """Build (no build starts after an interrupt), then publish(ok, interrupted, stop) -> ok, under an
    interrupt of its own: one arriving while tags move takes effect once all moved or none, and is noted
    (exit 130/143) even when they all moved, or when moving them failed. The run is closed in any case;
    on an exception as failed, or interrupted after a signal (what was built stays recorded)."""
    interrupted = False
    try:
        with (interruptible() as stop, exits_as_signal(stop), logs.live_view(report),
              around_build or nullcontext()):
            runner.stop = stop  # no build starts again after an interrupt
            ok, interrupted = settle(report, build(stop), stop, runner)
        with interruptible() as stop, exits_as_signal(stop):
            published = False
            try:
                ok = published = publish(ok, interrupted, stop)
            finally:  # noted once every tag moved too, or moved back after a failed move
                interrupted = interrupted or (stop.is_set() and not published)
                report.signal = report.signal or stop.signal
    except BaseException as exc:
        signal_name = close(history, report, planned, False, interrupted)
        if signal_name and isinstance(exc, EngineError):
            exc.exit_code = signal_exit_code(signal_name)
        raise
    arrived_while_recorded = close(history, report, planned, ok, interrupted)
    report.signal = report.signal or arrived_while_recorded  # the caller exits 130/143; not in report.json


def close(history: History, report: RunReport, planned: Planned, ok: bool, interrupted: bool) -> str:
    """Record every node, finish the report with its status, write the summaries and end the run; a
    Ctrl-C or SIGTERM meanwhile waits until all is written: its name, else ""."""
    with interruptible() as stop:
        record(history, report, planned)
        try:
            finish(report, "succeeded" if ok else "interrupted" if interrupted else "failed")
            write_summaries(report)
        finally:  # the history keeps the run's end even when its report cannot be written
            history.finish_run(report.run_id, report.finished, report.status)
    return stop.signal


def record(history: History, report: RunReport, planned: Planned) -> None:
    """Each node's outcome and inputs, so later runs can say which input changed."""
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    history.record_nodes([NodeRecord(
        report.run_id, node.node, node.ref, node.fingerprint, node.digest, node.action, node.reason,
        node.status, node.duration_s, node.platform_durations,
        file_inputs(planned.fingerprints[node.node]), finished, node.platform_digests)
        for node in report.nodes.values()])
