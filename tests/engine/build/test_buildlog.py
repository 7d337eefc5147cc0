"""buildlog: step timings parsed from `docker buildx build --progress plain` logs."""

from __future__ import annotations

from engine.build.buildlog import (
    StepTiming,
    failed_step,
    fully_cached,
    is_dockerfile_step,
    parse_steps,
    platform_durations,
)

# Excerpt of a real multi-platform build (python-sdk): arm64 and amd64 RUN steps interleave, headers repeat.
INTERLEAVED = """\
$ docker buildx build --platform linux/amd64,linux/arm64 --file stacks/demo/sdk/Dockerfile --push .
#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 360B done
#1 DONE 0.0s

#5 [context parent] localhost:5000/stackbuild/debian@sha256:b7582dbe
#5 resolve localhost:5000/stackbuild/debian@sha256:b7582dbe 0.0s done
#5 DONE 0.0s

#6 [context parent] localhost:5000/stackbuild/debian@sha256:b7582dbe
#6 CACHED

#5 [context parent] localhost:5000/stackbuild/debian@sha256:b7582dbe
#5 CACHED

#7 [linux/arm64 1/3] RUN apt-get update  && apt-get install -y --no-install-recommends python3
#7 0.930 Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]
#7 ...

#8 [linux/amd64 1/3] RUN apt-get update  && apt-get install -y --no-install-recommends python3
#8 0.308 Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]
#8 15.57 done.
#8 ...

#7 [linux/arm64 1/3] RUN apt-get update  && apt-get install -y --no-install-recommends python3
#7 15.18 Reading package lists...
#7 ...

#8 [linux/amd64 1/3] RUN apt-get update  && apt-get install -y --no-install-recommends python3
#8 DONE 16.1s

#9 [linux/amd64 2/3] RUN python3 -m venv /opt/venv
#9 ...

#7 [linux/arm64 1/3] RUN apt-get update  && apt-get install -y --no-install-recommends python3
#7 150.4 done.
#7 DONE 151.6s

#9 [linux/amd64 2/3] RUN python3 -m venv /opt/venv
#9 DONE 5.9s

#10 [linux/arm64 2/3] RUN python3 -m venv /opt/venv
#10 DONE 29.8s

#11 exporting to image
#11 exporting layers 19.8s done
#11 DONE 20.0s

#12 pushing localhost:5000/stackbuild/sdk:cpu-py311-deb12 with docker
#12 pushing layer 5f639287b94e 0.0s done
#12 DONE 0.1s
"""

# Excerpt of a real rebuild where every Dockerfile step came from the cache (chat).
ALL_CACHED = """\
#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 263B 0.0s done
#1 DONE 0.0s

#7 [internal] load build context
#7 transferring context: 55B done
#7 DONE 0.0s

#8 [linux/amd64 1/4] COPY app.py /opt/app/app.py
#8 CACHED

#11 [linux/arm64 2/4] COPY start.sh /usr/bin/start.sh
#11 CACHED

#12 [linux/arm64 1/4] COPY app.py /opt/app/app.py
#12 CACHED

#14 exporting to image
#14 exporting layers done
#14 DONE 0.3s
"""

FAILED = """\
#5 [linux/arm64 2/4] RUN apt-get update && apt-get install -y python3
#5 0.512 Get:1 http://deb.debian.org/debian bookworm InRelease
#6 [linux/amd64 2/4] RUN apt-get update && apt-get install -y python3
#6 CACHED
#9 [linux/amd64 3/4] RUN definitely-not-a-command
#9 0.101 /bin/sh: 1: definitely-not-a-command: not found
#9 ERROR: process "/bin/sh -c definitely-not-a-command" did not complete successfully: exit code: 127
#5 CANCELED
------
 > [linux/amd64 3/4] RUN definitely-not-a-command:
0.101 /bin/sh: 1: definitely-not-a-command: not found
------
ERROR: failed to solve: process "/bin/sh -c definitely-not-a-command" did not complete successfully
"""


def test_interleaved_steps_come_once_each_in_first_appearance_order() -> None:
    steps = parse_steps(INTERLEAVED)
    assert [(step.step, step.platform, step.seconds, step.cached) for step in steps] == [
        ("#1", "", 0.0, False),
        ("#5", "", 0.0, True),
        ("#6", "", 0.0, True),
        ("#7", "linux/arm64", 151.6, False),
        ("#8", "linux/amd64", 16.1, False),
        ("#9", "linux/amd64", 5.9, False),
        ("#10", "linux/arm64", 29.8, False),
        ("#11", "", 20.0, False),
        ("#12", "", 0.1, False),
    ]


def test_names_are_the_headers_as_printed_not_output_or_progress_lines() -> None:
    names = {step.step: step.name for step in parse_steps(INTERLEAVED)}
    assert names["#1"] == "[internal] load build definition from Dockerfile"
    assert names["#7"] == ("[linux/arm64 1/3] RUN apt-get update  && apt-get install -y "
                           "--no-install-recommends python3")
    assert names["#11"] == "exporting to image"


def test_the_buildx_banner_and_lines_without_a_step_number_are_ignored() -> None:
    steps = parse_steps(INTERLEAVED + FAILED)
    assert "#0" not in [step.step for step in steps]
    assert all(step.name for step in steps)


def test_platform_durations_sum_per_platform_with_shared_steps_apart() -> None:
    assert platform_durations(parse_steps(INTERLEAVED)) == {
        "shared": 20.1, "linux/arm64": 181.4, "linux/amd64": 22.0}


def test_platform_durations_round_to_hundredths() -> None:
    steps = [StepTiming("#1", "linux/amd64", "[linux/amd64 1/2] RUN a", 0.1),
             StepTiming("#2", "linux/amd64", "[linux/amd64 2/2] RUN b", 0.2)]
    assert platform_durations(steps) == {"linux/amd64": 0.3}
    assert platform_durations([]) == {}


def test_fully_cached_when_every_dockerfile_step_was_cached() -> None:
    assert fully_cached(parse_steps(ALL_CACHED)) is True


def test_not_fully_cached_when_a_dockerfile_step_ran() -> None:
    assert fully_cached(parse_steps(INTERLEAVED)) is False


def test_not_fully_cached_without_any_dockerfile_step() -> None:
    only_internal = "#1 [internal] load build definition from Dockerfile\n#1 CACHED\n"
    assert fully_cached(parse_steps(only_internal)) is False
    assert fully_cached(()) is False


def test_error_line_gives_the_failed_step_and_its_message() -> None:
    steps = parse_steps(FAILED)
    failed = failed_step(steps)
    assert failed == StepTiming(
        "#9", "linux/amd64", "[linux/amd64 3/4] RUN definitely-not-a-command", 0.0, False,
        'process "/bin/sh -c definitely-not-a-command" did not complete successfully: exit code: 127')


def test_canceled_and_cached_steps_are_not_failures() -> None:
    by_step = {step.step: step for step in parse_steps(FAILED)}
    assert (by_step["#5"].error, by_step["#5"].cached, by_step["#5"].seconds) == ("", False, 0.0)
    assert (by_step["#6"].cached, by_step["#6"].error) == (True, "")
    assert [step.step for step in by_step.values()] == ["#5", "#6", "#9"]


def test_no_failed_step_in_a_successful_log() -> None:
    assert failed_step(parse_steps(INTERLEAVED)) is None


def test_single_platform_form_has_no_platform_but_is_a_dockerfile_step() -> None:
    log = "#5 [2/4] RUN pip install numpy\n#5 3.210 Successfully installed numpy\n#5 DONE 4.2s\n"
    (step,) = parse_steps(log)
    assert step == StepTiming("#5", "", "[2/4] RUN pip install numpy", 4.2, False, "")
    assert is_dockerfile_step(step) is True
    assert platform_durations([step]) == {"shared": 4.2}


def test_stage_names_with_and_without_platform() -> None:
    log = ("#5 [builder 2/4] RUN make\n#6 [linux/amd64 builder 2/4] RUN make\n"
           "#7 [linux/arm64 stage-0 1/2] RUN pip install pytest\n#5 DONE 1.0s\n#6 DONE 2.0s\n#7 CACHED\n")
    steps = parse_steps(log)
    assert [(step.platform, step.seconds, step.cached, is_dockerfile_step(step)) for step in steps] == [
        ("", 1.0, False, True), ("linux/amd64", 2.0, False, True), ("linux/arm64", 0.0, True, True)]


def test_non_dockerfile_steps_are_told_apart() -> None:
    names = ["[internal] load .dockerignore", "[context parent] load metadata for reg/a@sha256:1",
             "[linux/amd64 internal] load metadata for docker.io/library/python:3.11",
             "[linux/arm64] generating sbom using docker.io/docker/buildkit-syft-scanner:stable-1",
             "exporting to image", "[auth] library/python:pull token for registry-1.docker.io"]
    steps = [StepTiming(f"#{index}", "", name) for index, name in enumerate(names, 1)]
    assert [is_dockerfile_step(step) for step in steps] == [False] * 6
    parsed = parse_steps("".join(f"#{index} {name}\n" for index, name in enumerate(names, 1)))
    assert [step.platform for step in parsed] == ["", "", "linux/amd64", "linux/arm64", "", ""]


def test_platform_with_a_variant() -> None:
    (step,) = parse_steps("#4 [linux/arm/v7 1/1] ADD rootfs.tar.gz /\n#4 DONE 0.7s\n")
    assert (step.platform, step.seconds) == ("linux/arm/v7", 0.7)


def test_a_truncated_log_still_yields_its_steps() -> None:
    tail = "#7 120.1 Processing triggers for libc-bin\n#7 ...\n#7 DONE 151.6s\n#9 CACHED\n"
    assert parse_steps(tail) == (StepTiming("#7", "", "", 151.6, False, ""),
                                 StepTiming("#9", "", "", 0.0, True, ""))


def test_windows_line_endings_and_done_without_a_time() -> None:
    steps = parse_steps("#3 [internal] load build context\r\n#3 DONE\r\n")
    assert steps == (StepTiming("#3", "", "[internal] load build context", 0.0, False, ""),)


def test_an_error_without_a_message_still_fails_the_step() -> None:
    failed = failed_step(parse_steps("#4 [1/2] RUN false\n#4 ERROR\n"))
    assert failed == StepTiming("#4", "", "[1/2] RUN false", 0.0, False, "unknown error")


def test_empty_log() -> None:
    assert parse_steps("") == ()
    assert failed_step(()) is None


CACHE_EXPORT_FAILED = """\
#5 importing cache manifest from localhost:5000/demo/ymir:sbcache-d3f3e3af2f07f529
#5 ERROR: failed to configure registry cache importer: not found
#9 [linux/arm64 stage-0 1/2] RUN pip install pytest
#9 DONE 13.8s
#10 exporting to image
#10 pushing layers 0.2s done
#10 DONE 1.1s
#11 exporting cache to registry
#11 preparing build cache for export 0.3s done
#11 ERROR: not found
ERROR: failed to solve: not found
"""


def test_a_failure_only_in_the_cache_export_is_recognised() -> None:
    from engine.build.buildlog import only_cache_export_failed

    assert only_cache_export_failed(CACHE_EXPORT_FAILED)
    assert not only_cache_export_failed(CACHE_EXPORT_FAILED.replace("#10 pushing layers 0.2s done\n", ""))
    no_cache_error = CACHE_EXPORT_FAILED.replace("#11 ERROR: not found\n", "#11 DONE 0.3s\n")
    assert not only_cache_export_failed(no_cache_error)


def test_a_stored_image_and_its_docker_push_are_recognised() -> None:
    from engine.build.buildlog import cache_export_failed_after_image, only_cache_export_failed, pushed_digest

    stored = CACHE_EXPORT_FAILED.replace("#10 pushing layers 0.2s done\n", "#10 naming to r/n:sb-1 done\n")
    assert cache_export_failed_after_image(stored) and not only_cache_export_failed(stored)
    digest = "sha256:" + "0a" * 32
    pushed = f"{stored}$ docker push r/n:sb-1\n3f1e0a2b9c8d: Pushed\nsb-1: digest: {digest} size: 1607\n"
    assert only_cache_export_failed(pushed) and pushed_digest(pushed) == digest
    assert pushed_digest(stored) == "" and pushed_digest("x: digest: sha256:12 size: 3\n") == ""
    failed_image = stored.replace("#10 DONE 1.1s\n", "#10 ERROR: failed to export\n")
    assert not cache_export_failed_after_image(failed_image)
