"""Shared test configuration: the repository root."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where stacks/ lives)."""
    return ROOT


@pytest.fixture(autouse=True)
def _no_log_handler_left_on_a_closed_stream() -> Iterator[None]:
    """A test that configures logging (engine.console.logs.configure, the CLI's main) binds a handler to
    the stderr pytest captured for it; dropped after the test, later tests' events do not hit that
    closed stream (a 'Logging error' traceback per event, burying a failure's own output)."""
    yield
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if type(handler) is logging.StreamHandler]:
        root.removeHandler(handler)


@pytest.fixture(autouse=True)
def _no_logger_cached_by_a_cli_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI configures structlog to cache each module's logger on its first use; cached during one
    test, a module's logger would keep that test's configuration, and a later test's capture_logs
    would see none of its events (which test ran first would decide). Tests log uncached."""
    configure = structlog.configure

    def uncached(**settings: object) -> None:
        configure(**{**settings, "cache_logger_on_first_use": False})  # type: ignore[arg-type]

    monkeypatch.setattr(structlog, "configure", uncached)
