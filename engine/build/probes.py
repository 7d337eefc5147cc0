"""Short questions to the engine and to buildx, each one process with a timeout."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence

from engine.errors import EngineUnavailable

PROBE_TIMEOUT_S = 30.0  # a builder that does not answer `buildx inspect` in this long is lost
_DRIVER = re.compile(r"^Driver:\s*(\S+)\s*$", re.MULTILINE)
NO_ENGINE = "the Docker engine does not answer"
START_IT = "run `make setup` to start it"


def engine_version(docker: Sequence[str]) -> str:
    """The engine's version (`docker version`), or EngineUnavailable with how to get an engine."""
    argv = [*docker, "version", "--format", "{{.Server.Version}}"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailable(f"{NO_ENGINE}: {exc}", START_IT) from None
    if done.returncode != 0 or not done.stdout.strip():
        raise EngineUnavailable(f"{NO_ENGINE}: {_first_line(done.stderr) or f'exit {done.returncode}'}",
                                START_IT)
    return done.stdout.strip()


def driver_of(inspect_argv: Sequence[str]) -> str:
    """The buildx driver `buildx inspect` names ('' when it cannot be asked)."""
    try:
        done = subprocess.run(list(inspect_argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = _DRIVER.search(done.stdout) if done.returncode == 0 else None
    return match.group(1) if match else ""


def answers(inspect_argv: Sequence[str]) -> bool:
    """Whether `buildx inspect --bootstrap` of a builder succeeds."""
    try:
        done = subprocess.run(list(inspect_argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    # buildx 0.13 exits 0 for a builder whose engine does not answer, printing `Error: ...`
    errors = [line for line in done.stdout.splitlines() if line.startswith("Error:")]
    return done.returncode == 0 and not errors


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
