"""faults: what a failed build's log says about repeating it, and the repeats."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import tenacity

from engine.build import buildlog
from engine.build.builder import BuildResult
from engine.build.request import BuildRequest
from engine.errors import BuildError, BuildStalled
from engine.run import faults
from engine.run.faults import fault_retry, transient_reason
from tests.engine.buildlogs import COPY_MISSING, STALLED_ARM64_PIP

BUILDX = ["docker", "buildx", "build"]
REQUEST = BuildRequest("n", Path("ctx"), Path("ctx/Dockerfile"), ("linux/amd64",), ("r/n:1",))

# The first build of a node finds no cache to import (a warning), then buildx's own push fails.
PUSH_FAULT_AFTER_NO_CACHE = """\
#4 importing cache manifest from localhost:5000/demo/app:sbcache-d3f3e3af
#4 ERROR: failed to configure registry cache importer: {cause}
#8 [2/2] RUN pip install pytest
#8 DONE 13.8s
#9 exporting to image
#9 pushing layers
#9 ERROR: failed to push localhost:5000/demo/app:sb-1: failed to do request: Put \
"http://localhost:5000/v2/demo/app/blobs/uploads/1": read tcp 127.0.0.1:50412->127.0.0.1:5000: \
read: connection reset by peer
------
 > exporting to image:
------
ERROR: failed to solve: failed to push localhost:5000/demo/app:sb-1: failed to do request: Put \
"http://localhost:5000/v2/demo/app/blobs/uploads/1": read tcp 127.0.0.1:50412->127.0.0.1:5000: \
read: connection reset by peer
"""


def stalled(tmp_path: Path, log: str, last_line: str) -> BuildStalled:
    path = tmp_path / "n.log"
    path.write_text(log, encoding="utf-8")
    return BuildStalled("n", BUILDX, 300.0, last_line, last_line, str(path))


def failed(tmp_path: Path, log: str) -> BuildError:
    path = tmp_path / "n.log"
    path.write_text(log, encoding="utf-8")
    return BuildError("n", BUILDX, 1, "", str(path))


def test_a_stall_while_one_platforms_run_step_hangs_is_not_repeated(tmp_path: Path) -> None:
    assert transient_reason(stalled(tmp_path, STALLED_ARM64_PIP, "#11 DONE 0.1s")) == ""


def test_a_stall_after_the_steps_ran_is_repeated(tmp_path: Path) -> None:
    log = STALLED_ARM64_PIP.replace("#10 ...\n", "#10 DONE 80.2s\n") + "#12 exporting to image\n"
    error = stalled(tmp_path, log, "#12 exporting to image")
    assert transient_reason(error) == "stalled: #12 exporting to image"


def test_a_missing_copy_source_is_not_repeated(tmp_path: Path) -> None:
    assert transient_reason(failed(tmp_path, COPY_MISSING)) == ""


def test_a_push_fault_is_repeated_whatever_the_cache_import_warned(tmp_path: Path) -> None:
    for cause in ("localhost:5000/demo/app:sbcache-d3f3e3af: not found",
                  "failed to authorize: failed to fetch anonymous token: unexpected status from GET request "
                  "to https://localhost:5000/token: 401 Unauthorized"):
        log = PUSH_FAULT_AFTER_NO_CACHE.format(cause=cause)
        assert transient_reason(failed(tmp_path, log)) == "connection reset by peer", cause


def test_a_repeated_builds_log_is_read_once_per_failure_and_its_fault_is_given_before_the_repeat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "wait_random_exponential", lambda **_: tenacity.wait_none())
    reads: list[str] = []
    monkeypatch.setattr(buildlog, "transient_failure", lambda text: reads.append(text) or "reset by peer")
    log = PUSH_FAULT_AFTER_NO_CACHE.format(cause="not found")
    calls: list[BuildRequest] = []

    def build(request: BuildRequest) -> BuildResult:
        calls.append(request)
        if len(calls) < 3:
            raise failed(tmp_path, log)
        return BuildResult("n", "sha256:1", 1.0, "n.log")

    given: list[tuple[int, str]] = []
    built = fault_retry(build, threading.Event(),
                        lambda state, reason: given.append((state.attempt_number, reason)))
    assert built(REQUEST).digest == "sha256:1"
    assert given == [(1, "reset by peer"), (2, "reset by peer")]
    assert reads == [log, log]


def test_no_log_is_read_once_the_run_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buildlog, "transient_failure", lambda text: pytest.fail("log read"))
    stop = threading.Event()
    stop.set()
    error = failed(tmp_path, PUSH_FAULT_AFTER_NO_CACHE.format(cause="not found"))

    def build(request: BuildRequest) -> BuildResult:
        raise error

    with pytest.raises(BuildError) as caught:
        fault_retry(build, stop, lambda state, reason: pytest.fail("repeated"))(REQUEST)
    assert caught.value is error
