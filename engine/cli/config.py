"""Project configuration: `[tool.stackbuild]` in the repository's pyproject.toml.

A setting comes from its flag, else its environment variable, else this file, else the built-in
default. The file is read from `--root` (default: the current folder); a repository without one
uses the defaults.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.build.pool import Pool, parse_pool, read_pool_file
from engine.build.request import CACHE_MODES
from engine.errors import EngineError

CONFIG_FILE = "pyproject.toml"
POOL_KEY = "builders"  # the builder pool: a table of platform → builders (see engine.build.pool)
MAX_CONFIG_BYTES = 1 << 20


class ConfigError(EngineError):
    """The project configuration cannot be read or has a wrong value."""

    exit_code = 2


@dataclass(frozen=True)
class Setting:
    """One configurable option: its argparse dest, environment variable, default and type."""

    key: str  # in [tool.stackbuild]
    dest: str
    variable: str
    default: Any
    kind: type
    choices: tuple[str, ...] = ()


SETTINGS = (
    Setting("targets", "targets", "", ["stacks"], list),
    Setting("registry", "registry", "STACKBUILD_REGISTRY", "", str),
    Setting("state-dir", "state_dir", "STACKBUILD_STATE", ".state", str),
    Setting("jobs", "jobs", "STACKBUILD_JOBS", 2, int),
    Setting("cache", "cache", "STACKBUILD_CACHE", "registry", str, CACHE_MODES),
    Setting("log-format", "log_format", "STACKBUILD_LOG_FORMAT", "auto", str, ("auto", "console", "json")),
)


def read_config(root: Path) -> dict[str, Any]:
    """The [tool.stackbuild] table of root/pyproject.toml ({} when absent), every key checked."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    tool = _parsed(path).get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: tool must be a table", "write the settings under [tool.stackbuild]")
    table = tool.get("stackbuild", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.stackbuild] must be a table", "see README, Project configuration")
    known = {setting.key: setting for setting in SETTINGS}
    for key, value in table.items():
        if key == POOL_KEY:
            parse_pool(value, f"{path}: [tool.stackbuild]")
            continue
        if key not in known:
            raise ConfigError(f"{path}: [tool.stackbuild] has an unknown key {key!r}",
                              f"known keys: {', '.join([*known, POOL_KEY])}")
        _check_value(path, known[key], value)
    return table


def _parsed(path: Path) -> dict[str, Any]:
    """The TOML document at path, at most MAX_CONFIG_BYTES long; ConfigError when it cannot be read."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB, not read as a project "
                              "configuration", "keep pyproject.toml to its settings")
        return tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ConfigError(f"{path}: cannot read the project configuration: {reason}",
                          "fix the TOML syntax, or run with --root pointing elsewhere") from None


def _check_value(path: Path, setting: Setting, value: Any) -> None:
    ok = isinstance(value, setting.kind) and not isinstance(value, bool)
    if ok and setting.kind is list:
        ok = bool(value) and all(isinstance(item, str) and item for item in value)
    if ok and setting.kind is int:
        ok = value >= 1
    if ok and setting.choices:
        ok = value in setting.choices
    if not ok:
        wanted = (f"one of {', '.join(setting.choices)}" if setting.choices else
                  "a list of stack files or folders" if setting.kind is list else
                  "a whole number of at least 1" if setting.kind is int else "a string")
        raise ConfigError(f"{path}: [tool.stackbuild] {setting.key} = {value!r} is not valid",
                          f"use {wanted}")


def fill_defaults(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    """Give every setting not set by its flag a value (env, file, default); dest → where it came from."""
    config: dict[str, Any] | None = None
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        if not hasattr(args, setting.dest) or getattr(args, setting.dest) not in (None, []):
            continue  # not an option of this command, or given on the command line
        if setting.variable and setting.variable in environ:
            setattr(args, setting.dest, _from_environment(setting, environ[setting.variable]))
            sources[setting.dest] = f"environment variable {setting.variable}"
            continue
        if config is None:
            config = read_config(Path(getattr(args, "root", None) or "."))
        if setting.key in config:
            setattr(args, setting.dest, config[setting.key])
            sources[setting.dest] = f"[tool.stackbuild] {setting.key}"
        else:
            setattr(args, setting.dest, setting.default)
    return sources


def _from_environment(setting: Setting, text: str) -> Any:
    """An environment variable's text as the setting's type; ConfigError naming the variable."""
    if setting.kind is int:
        if _whole_number(text) < 1:
            raise ConfigError(f"environment variable {setting.variable}={text!r} is not a whole number >= 1",
                              f"unset it or set e.g. {setting.variable}=2")
        return int(text)
    if setting.choices and text not in setting.choices:
        allowed = ", ".join(setting.choices)
        raise ConfigError(f"environment variable {setting.variable}={text!r} is not one of {allowed}",
                          f"unset it or set one of {allowed}")
    return text


def _whole_number(text: str) -> int:
    """text as a whole number of ASCII digits; 0 for anything else (isdigit alone lets '²' through,
    and int() refuses it, as it refuses more than 4300 digits)."""
    try:
        return int(text) if text.isascii() and text.isdigit() else 0
    except ValueError:
        return 0


def pool_of(args: argparse.Namespace) -> Pool | None:
    """The builder pool: --builders FILE, else [tool.stackbuild.builders], else None (one builder)."""
    if getattr(args, "builders", None):
        return read_pool_file(Path(args.builders))
    table = read_config(Path(getattr(args, "root", None) or "."))
    if POOL_KEY not in table:
        return None
    return parse_pool(table[POOL_KEY], f"{Path(args.root) / CONFIG_FILE}: [tool.stackbuild]")
