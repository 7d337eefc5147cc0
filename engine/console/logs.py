"""Logging set up once, at the edge: a readable console on a TTY, JSON lines otherwise."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import structlog

if TYPE_CHECKING:
    from engine.state.report import RunReport

FORMATS = ("auto", "console", "json")
_live_handler: logging.StreamHandler[TextIO] | None = None


def configure(log_format: str = "auto", level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging (python-on-whales) through one renderer on stderr."""
    if log_format == "auto":
        log_format = "console" if sys.stderr.isatty() and not os.environ.get("CI") else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer()
    else:
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    handler = logging.StreamHandler(sys.stderr)
    global _live_handler
    _live_handler = handler if log_format == "console" and sys.stderr.isatty() else None
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


@contextmanager
def live_view(report: RunReport) -> Iterator[None]:
    """On a terminal with console logs, a live progress block under the log lines; else nothing."""
    handler = _live_handler
    if handler is None:
        yield
        return
    from engine.console.progress import ProgressView

    with ProgressView(report, sys.stderr) as view:
        previous = handler.setStream(view)  # type: ignore[arg-type]
        try:
            yield
        finally:
            handler.setStream(previous or sys.stderr)
