"""Fixtures of the registry tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine.registry.fakeregistry import FakeRegistry, fake_registry


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    """A scripted registry on a free loopback port."""
    with fake_registry() as served:
        yield served
