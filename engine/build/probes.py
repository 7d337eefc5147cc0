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
    code, out, err = _ask([*docker, "version", "--format", "{{.Server.Version}}"])
    if code != 0 or not out.strip():
        raise EngineUnavailable(f"{NO_ENGINE}: {_first_line(err) or f'exit {code}'}", START_IT)
    return out.strip()


def driver_of(inspect_argv: Sequence[str]) -> str:
    """The buildx driver `buildx inspect` names ('' when it cannot be asked)."""
    code, out, _ = _ask(inspect_argv)
    match = _DRIVER.search(out) if code == 0 else None
    return match.group(1) if match else ""


def names_context(docker: Sequence[str], name: str) -> bool:
    """Whether name is a docker context (`docker context inspect NAME` succeeds in time)."""
    code, _, _ = _ask([*docker, "context", "inspect", name])
    return code == 0


def answers(inspect_argv: Sequence[str]) -> bool:
    """Whether `buildx inspect --bootstrap` of a builder succeeds."""
    code, out, _ = _ask(inspect_argv)
    # buildx 0.13 exits 0 for a builder whose engine does not answer, printing `Error: ...`
    return code == 0 and not any(line.startswith("Error:") for line in out.splitlines())


def _ask(argv: Sequence[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of argv run with the probe timeout; (-1, '', why) when it could not
    run or did not end in time."""
    try:
        done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, "", str(exc)
    return done.returncode, done.stdout, done.stderr


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
