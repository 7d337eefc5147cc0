"""Engine test set-up: git without user or system configuration, no stackbuild environment defaults."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def plain_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every git the tests or the engine run sees git's defaults (diff.renames, init branch, ...)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No environment defaults; logging configured by main() is undone afterwards."""
    monkeypatch.delenv("STACKBUILD_REGISTRY", raising=False)
    monkeypatch.delenv("STACKBUILD_STATE", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
