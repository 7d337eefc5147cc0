"""Where the docker client keeps its configuration (config.json, cli-plugins, contexts)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def docker_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """$DOCKER_CONFIG, else ~/.docker, as the docker CLI reads it (env: os.environ when not given)."""
    env = os.environ if env is None else env
    return Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")
