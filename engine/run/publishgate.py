"""The end of a run: its layers verified, then every human tag moved (all or none), or why not."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import structlog

from engine.registry.client import Registry
from engine.run.layers import verify_run
from engine.run.planner import Planned
from engine.run.publishing import publish_run
from engine.run.runner import NodeRunner
from engine.run.settings import BuildSettings
from engine.state.history import History
from engine.state.report import RunReport

if TYPE_CHECKING:
    from engine.run.api import Options

log = structlog.get_logger()


def publish_checked(options: Options, planned: Planned, runner: NodeRunner, registry: Registry,
                    history: History, report: RunReport, ok: bool, interrupted: bool,
                    stop: threading.Event) -> bool:
    """Check the run, then move every human tag (all or none) unless it publishes nothing; whether the
    run still succeeds."""
    # checked right before publishing (a failed run publishes nothing): a child resting on another
    # build of its parent fails and nothing is published
    if ok and not verify_run(planned, runner.digests, report, registry, runner.layers):
        ok = False
    skipped = why_not_published(options, runner.settings, ok, interrupted or stop.is_set())
    if not skipped:
        return publish_run(options, planned, runner.digests, registry, history, report, runner.settings.adopt)
    log.warning("promotion_skipped", node="*", reason=skipped)
    return ok and not stop.is_set()


def why_not_published(options: Options, settings: BuildSettings, ok: bool, interrupted: bool) -> str:
    """Why a run moves no human tag; "" when it moves them."""
    return ("interrupted" if interrupted else
            "a node failed: no human tag was moved" if not ok else
            "--only: a shard's human tags move in `stackbuild publish`" if options.only else
            "--platform narrowed the run: human tags keep every platform they had" if options.platforms else
            "--no-secrets: an untrusted run's images get content tags only" if settings.secrets.withhold else
            "--no-publish: content tags only" if not settings.publish else "")
