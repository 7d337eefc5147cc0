"""Engine test set-up: git runs without the user's or the system's configuration."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def plain_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every git the tests or the engine run sees git's defaults (diff.renames, init branch, ...)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
