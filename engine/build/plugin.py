"""Where the docker CLI would find its buildx plugin, so a build can run that program itself.

`docker buildx build` is three Go programs: the docker CLI, the plugin's metadata probe it runs first,
then buildx; ~40 ms of CPU per build for the first two (bench/history.md). buildx runs standalone
as well, reading the same client configuration (DOCKER_CONFIG, DOCKER_HOST, DOCKER_CONTEXT) the CLI
would hand it. The search order is the docker CLI's on Linux: the configuration's extra folders,
`<config>/cli-plugins`, then the system folders.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from engine.state.dockerconfig import docker_config_dir

PLUGIN = "docker-buildx"
SYSTEM_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
               "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")
# set, they change how the CLI finds or runs plugins in ways not mirrored here: keep the CLI then
CLI_ONLY_ENV = ("DOCKER_CLI_PLUGIN_EXTRA_DIRS",)


def plugin_dirs(env: Mapping[str, str]) -> list[Path]:
    """The folders the docker CLI searches for plugins, first match wins."""
    config = docker_config_dir(env)
    extra: list[Path] = []
    try:
        settings = json.loads((config / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        settings = {}
    folders = settings.get("cliPluginsExtraDirs") if isinstance(settings, dict) else None
    if isinstance(folders, list):
        extra = [Path(folder) for folder in folders if isinstance(folder, str) and folder]
    return [*extra, config / "cli-plugins", *(Path(folder) for folder in SYSTEM_DIRS)]


def find_buildx(docker_cmd: list[str], env: Mapping[str, str] | None = None) -> str:
    """The buildx plugin program `docker` would run, '' when the build should go through the CLI:
    a docker command other than plain `docker` (a wrapper, extra options), or settings not mirrored."""
    env = os.environ if env is None else env
    if len(docker_cmd) != 1 or Path(docker_cmd[0]).name != "docker":
        return ""
    if any(env.get(name) for name in CLI_ONLY_ENV):
        return ""
    for folder in plugin_dirs(env):
        candidate = folder / PLUGIN
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return ""


def default_builder_chosen(env: Mapping[str, str] | None = None) -> bool:
    """Whether buildx builds on the current docker context's own builder (always the `docker` driver):
    no BUILDX_BUILDER, and no builder chosen by `docker buildx use` in buildx's `current` file."""
    env = os.environ if env is None else env
    if env.get("BUILDX_BUILDER"):
        return False
    folder = Path(env["BUILDX_CONFIG"]) if env.get("BUILDX_CONFIG") else docker_config_dir(env) / "buildx"
    try:
        chosen = json.loads((folder / "current").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False  # unreadable: let buildx say
    return isinstance(chosen, dict) and chosen.get("Name") == ""
