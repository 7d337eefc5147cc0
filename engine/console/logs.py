"""Logging set up once, at the edge: readable console lines (CI included), JSON when asked.

`auto` is the console renderer everywhere (colours only on a TTY, never with NO_COLOR or TERM=dumb);
`json` (flag or STACKBUILD_LOG_FORMAT=json) gives JSON lines. Every build run also writes its events
as JSON lines to log.jsonl in its run folder, whatever the console shows.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import structlog

if TYPE_CHECKING:
    from engine.state.report import RunReport

FORMATS = ("auto", "console", "json")
_live_handler: logging.StreamHandler[TextIO] | None = None


def _shared() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        _run_level_node,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _run_level_node(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Every event names its node: '*' for one about the whole run (or logged outside a node's work)."""
    event.setdefault("node", "*")
    return event


def colours_wanted(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set or TERM=dumb."""
    env = os.environ if env is None else env
    return stream.isatty() and "NO_COLOR" not in env and env.get("TERM", "") != "dumb"


def live_wanted(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """A redrawn progress block only on a terminal that can move the cursor (not TERM=dumb)."""
    env = os.environ if env is None else env
    return stream.isatty() and env.get("TERM", "") != "dumb"


def _formatter(log_format: str, colours: bool) -> logging.Formatter:
    renderer: Any
    shared = _shared()
    if log_format == "json":
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=colours)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer])


def configure(log_format: str = "auto", level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging (python-on-whales) through one renderer on stderr."""
    if log_format == "auto":
        log_format = "json" if os.environ.get("STACKBUILD_LOG_FORMAT") == "json" else "console"
    handler = logging.StreamHandler(sys.stderr)
    global _live_handler
    _live_handler = handler if log_format == "console" and live_wanted(sys.stderr) else None
    handler.setFormatter(_formatter(log_format, colours_wanted(sys.stderr)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


@contextmanager
def json_log(path: Path) -> Iterator[None]:
    """While open, every log event is also written to path as one JSON line."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_formatter("json", colours=False))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


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
