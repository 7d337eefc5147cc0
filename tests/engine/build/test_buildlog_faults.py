"""buildlog: which failed builds ran into a registry or network fault (buildx 0.13 `--progress plain`)."""

from __future__ import annotations

from engine.build.buildlog import stalled_in_dockerfile_step, transient_failure
from tests.engine.buildlogs import COPY_MISSING, STALLED_ARM64_PIP

PARENT = "localhost:5000/stackbuild/debian@sha256:" + "b7" * 32

# wget reports the first mirror's refusal and the fallback mirror serves the file; then buildx's push fails.
PUSH_503_AFTER_A_MIRROR_REFUSED = """\
#5 [2/3] RUN wget https://mirror.example.com/tool.tar.gz || wget https://downloads.example.com/tool.tar.gz
#5 0.212 --2024-05-02 10:11:12--  https://mirror.example.com/tool.tar.gz
#5 0.305 HTTP request sent, awaiting response... 401 Unauthorized
#5 0.305 Username/Password Authentication Failed.
#5 0.307 --2024-05-02 10:11:12--  https://downloads.example.com/tool.tar.gz
#5 0.410 HTTP request sent, awaiting response... 200 OK
#5 1.020 2024-05-02 10:11:13 (11.2 MB/s) - 'tool.tar.gz' saved [6512640/6512640]
#5 DONE 1.1s

#9 exporting to image
#9 exporting layers 0.4s done
#9 pushing layers
#9 ERROR: failed to push localhost:5000/demo/app:sb-1: unexpected status from PUT request to \
http://localhost:5000/v2/demo/app/blobs/uploads/1: 503 Service Unavailable
------
 > exporting to image:
------
ERROR: failed to solve: failed to push localhost:5000/demo/app:sb-1: unexpected status from PUT request to \
http://localhost:5000/v2/demo/app/blobs/uploads/1: 503 Service Unavailable
"""

PUSH_FORBIDDEN = """\
#12 exporting to image
#12 pushing layers 0.8s done
#12 ERROR: failed to push ghcr.io/acme/app:sb-1: unexpected status from POST request to \
https://ghcr.io/v2/acme/app/blobs/uploads/: 403 Forbidden
------
 > exporting to image:
------
ERROR: failed to solve: failed to push ghcr.io/acme/app:sb-1: unexpected status from POST request to \
https://ghcr.io/v2/acme/app/blobs/uploads/: 403 Forbidden
"""

BASE_DENIED = """\
#2 [internal] load metadata for docker.io/library/pyhton:3.12
#2 ERROR: pull access denied, repository does not exist or may require authorization: server message: \
insufficient_scope: authorization failed
------
 > [internal] load metadata for docker.io/library/pyhton:3.12:
------
ERROR: failed to solve: pyhton:3.12: failed to resolve source metadata for docker.io/library/pyhton:3.12: \
pull access denied, repository does not exist or may require authorization: server message: \
insufficient_scope: authorization failed
"""

PARENT_METADATA = f"""\
#3 [context parent] load metadata for {PARENT}
#3 ERROR: {PARENT}: {{cause}}
------
 > [context parent] load metadata for {PARENT}:
------
ERROR: failed to solve: {PARENT}: failed to resolve source metadata for {PARENT}: {{cause}}
"""


def test_a_transfer_fault_in_an_earlier_run_steps_output_does_not_make_a_missing_copy_source_transient(
        ) -> None:
    assert transient_failure(COPY_MISSING) == ""


def test_a_refusal_in_an_earlier_run_steps_output_does_not_hide_the_push_fault() -> None:
    assert transient_failure(PUSH_503_AFTER_A_MIRROR_REFUSED) == "503 Service Unavailable"


def test_a_push_the_registry_forbids_is_definitive() -> None:
    assert transient_failure(PUSH_FORBIDDEN) == ""
    assert transient_failure(PUSH_FORBIDDEN.replace("403 Forbidden", "502 Bad Gateway")) == "502 Bad Gateway"


def test_a_base_image_that_does_not_exist_or_is_denied_is_definitive() -> None:
    assert transient_failure(BASE_DENIED) == ""


def test_a_parent_that_is_not_there_is_definitive_one_that_did_not_answer_transient() -> None:
    assert transient_failure(PARENT_METADATA.format(cause=f"{PARENT}: not found")) == ""
    eof = 'failed to do request: Head "http://localhost:5000/v2/stackbuild/debian/manifests/sha256:x": EOF'
    assert transient_failure(PARENT_METADATA.format(cause=eof)) == '": EOF'
    gateway = "unexpected status from HEAD request to http://localhost:5000/v2/x: 504 Gateway Timeout"
    assert transient_failure(PARENT_METADATA.format(cause=gateway)) == "504 Gateway Timeout"
    token = 'failed to authorize: failed to fetch anonymous token: Get "https://auth.example.com/token": EOF'
    assert transient_failure(PARENT_METADATA.format(cause=token)) == '": EOF'


def test_a_run_step_whose_command_printed_a_network_fault_is_definitive() -> None:
    log = """\
#8 [linux/arm64 3/4] RUN pip install -r requirements.txt
#8 31.02 ERROR: Could not install packages due to an OSError: ('Connection broken: \
"ConnectionResetError(104, 'connection reset by peer')"', 503 Service Unavailable)
#8 ERROR: process "/bin/sh -c pip install -r requirements.txt" did not complete successfully: exit code: 1
------
 > [linux/arm64 3/4] RUN pip install -r requirements.txt:
31.02 ERROR: Could not install packages due to an OSError: 503 Service Unavailable
------
ERROR: failed to solve: process "/bin/sh -c pip install -r requirements.txt" did not complete \
successfully: exit code: 1
"""
    assert transient_failure(log) == ""


def test_a_stall_while_another_platforms_run_step_is_still_running_is_in_that_step() -> None:
    assert stalled_in_dockerfile_step(STALLED_ARM64_PIP)


def test_a_stall_after_every_run_step_ended_is_not_in_a_step() -> None:
    ended = STALLED_ARM64_PIP.replace("#10 ...\n", "#10 DONE 80.2s\n") + "#12 exporting to image\n"
    assert not stalled_in_dockerfile_step(ended)
    assert stalled_in_dockerfile_step("#5 [2/2] RUN sleep infinity\n")
