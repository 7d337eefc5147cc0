"""Which failed builds are built again: only one that ran into a registry or network fault, and none
once the run is interrupted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt, wait_random_exponential

from engine.build import buildlog
from engine.build.builder import BuildResult
from engine.build.request import BuildRequest
from engine.errors import BuildError, BuildStalled

BUILD_ATTEMPTS = 3  # only registry/network faults are retried, never a failing Dockerfile step


def fault_retry(build: Callable[[BuildRequest], BuildResult], stop: threading.Event,
                before_sleep: Callable[[RetryCallState, str], None]) -> Callable[[BuildRequest], BuildResult]:
    """build, repeated after a registry or network fault, at most BUILD_ATTEMPTS calls in all; never once
    stop is set (which also ends a wait between calls). before_sleep is given the fault before a repeat;
    the function returned serves one call at a time."""
    reason = ""  # the last failure's fault: its log is read once, for the decision and before_sleep

    def transient(error: BaseException) -> bool:
        nonlocal reason
        reason = "" if stop.is_set() else transient_reason(error)
        return bool(reason)

    def pause(seconds: float) -> None:
        stop.wait(seconds)

    return retry(retry=retry_if_exception(transient), stop=stop_after_attempt(BUILD_ATTEMPTS),
                 before_sleep=lambda state: before_sleep(state, reason),
                 wait=wait_random_exponential(multiplier=1, max=20), sleep=pause, reraise=True)(build)


def transient_reason(error: BaseException | None) -> str:
    """The registry or network fault a failed build ran into, '' when the failure is definitive."""
    if not isinstance(error, BuildError) or not error.log_path:
        return ""
    text = Path(error.log_path).read_text(encoding="utf-8", errors="replace")
    if isinstance(error, BuildStalled):
        return "" if buildlog.stalled_in_dockerfile_step(text) else f"stalled: {error.last_line}"
    return buildlog.transient_failure(text)
