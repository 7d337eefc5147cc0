"""The real engine: a build context that would send a CI step's credential file is refused before any build
(nothing pushed); once its .dockerignore excludes the file, the same stack builds and pushes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.build.builder import BuildxBuilder
from engine.registry.client import RegistryClient

STACK = """\
stack: creds
registry: localhost:1/unused
nodes:
  app: {kind: os, dockerfile: app/Dockerfile, tag: "1"}
"""
KEY = "gha-creds-5d1e0c7b.json"  # as google-github-actions/auth writes it into $GITHUB_WORKSPACE


def build(root: Path, registry: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "build", "--root", str(root), "--registry", registry,
         "--state-dir", str(root / "state"), "--log-format", "json", "--no-test"],
        capture_output=True, text=True, timeout=600, check=False)


def test_a_credential_file_in_the_context_is_refused_before_any_build(
        tmp_path: Path, builder: BuildxBuilder, registry: str) -> None:
    app = tmp_path / "stacks" / "creds" / "app"
    app.mkdir(parents=True)
    (app.parent / "stack.yaml").write_text(STACK, encoding="utf-8")
    (app / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n", encoding="utf-8")
    (app / "main.txt").write_text("app\n", encoding="utf-8")
    (app / KEY).write_text('{"type": "service_account", "private_key": "not real"}\n', encoding="utf-8")
    ref = f"{registry}/creds/app:1"

    refused = build(tmp_path, f"{registry}/creds")
    assert refused.returncode == 2, refused.stderr
    assert f"stacks/creds/stack.yaml:4: node app: build context {app} would send {KEY}, " in refused.stderr
    assert "Traceback" not in refused.stderr
    assert RegistryClient().manifest(ref) is None
    assert not (tmp_path / "state" / "runs").exists()  # no run started

    (app / ".dockerignore").write_text("gha-creds-*.json\n", encoding="utf-8")
    built = build(tmp_path, f"{registry}/creds")
    assert built.returncode == 0, built.stderr
    assert RegistryClient().manifest(ref) is not None
