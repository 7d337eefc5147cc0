"""docker_config_dir: where the docker CLI reads its configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.state.dockerconfig import docker_config_dir


def test_docker_config_wins_and_an_empty_one_means_the_home_folder(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert docker_config_dir({"DOCKER_CONFIG": "/etc/ci-docker"}) == Path("/etc/ci-docker")
    assert docker_config_dir({"DOCKER_CONFIG": ""}) == tmp_path / "home" / ".docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    assert docker_config_dir() == tmp_path / "cfg"  # the process environment when none is given
