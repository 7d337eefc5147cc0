"""Shared test configuration: the repository root."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

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
