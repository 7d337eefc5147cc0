"""Fakes for tests of the build command: an engine check that passes, and the builder and registry the
command makes replaced by in-memory ones."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine.build.builder
from engine.cli import main as cli
from engine.run import api
from tests.engine.engine_fakes import FakeBuilder, FakeRegistry

# the demo's stack-level secret reads the host's CA bundle: plan and build refuse it unless allowed
DEMO_CA = ("--secret-src-allow", "/etc/ssl/certs/ca-certificates.crt")


class CheckedBuilder(FakeBuilder):
    """The fake builder with the engine check the build command runs first."""

    def check(self) -> str:
        return "github.com/docker/buildx v0.0.0-fake"


def fake_engine(monkeypatch: pytest.MonkeyPatch) -> CheckedBuilder:
    """The builder `stackbuild build` will use, over a fresh in-memory registry the run uses too."""
    registry = FakeRegistry()
    monkeypatch.setattr(api, "RegistryClient", lambda: registry)
    return installed_builder(monkeypatch, registry)


def installed_builder(monkeypatch: pytest.MonkeyPatch, registry: FakeRegistry) -> CheckedBuilder:
    """The builder `stackbuild build` will use, over registry."""
    fake = CheckedBuilder(registry)
    monkeypatch.setattr(engine.build.builder, "BuildxBuilder", lambda: fake)
    return fake


def build(repo: Path, *args: str) -> int:
    """`stackbuild build --no-test ARGS` of repo (state beside it, JSON logs); its exit code. A
    reproducibility check gets no --no-test: it refuses it (it runs no smoke test anyway)."""
    no_test = [] if "--check-reproducible" in args else ["--no-test"]
    return cli.main(["build", "--root", str(repo), "--state-dir", str(repo.parent / "state"),
                     "--log-format", "json", *no_test, *args])
