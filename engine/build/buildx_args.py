"""A BuildRequest as buildx flags and python-on-whales arguments, checked first: pure, no daemon."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.build.request import BuildRequest, UnsafeBuildValue
from engine.state.hygiene import redacted_args
from graph.model.checks import control_problem
from graph.model.spec import PROVENANCE_MODES

_PUSHING_OUTPUT = re.compile(r"^type=image,name=([^,]+),push=true$")  # what image_output(push=True) writes


def attest_flags(mode: str) -> list[str]:
    """The buildx flags of a provenance mode: an SLSA provenance attestation per platform image."""
    if mode not in ("", *PROVENANCE_MODES):
        raise ValueError(f"unknown provenance mode {mode!r}")
    if mode == "off":
        return ["--provenance=false"]
    return ["--attest", f"type=provenance,mode={mode}"] if mode else []


def platform_push(request: BuildRequest, reference: str, builder: str) -> BuildRequest:
    """request for one builder, pushed to reference (a staging tag of one platform, merged by digest
    afterwards). buildx's push-by-digest=true is not implemented for the docker driver, a tag works on all."""
    if "," in reference or control_problem(reference):
        raise UnsafeBuildValue(f"node {request.node}: reference {reference!r} contains ',' or a control "
                               "character", "check --registry and the stack's registry")
    return replace(request, tags=(), builder=builder, output=image_output(reference, push=True), push=False)


def image_output(reference: str, push: bool) -> str:
    """The --output of an image named reference (already checked), pushed there by buildx when push."""
    return f"type=image,name={reference}" + (",push=true" if push else "")


def pushed_reference(output: str) -> str:
    """The reference an image_output(push=True) pushes to, '' for any other output."""
    match = _PUSHING_OUTPUT.match(output)
    return match.group(1) if match else ""


def check_request(request: BuildRequest) -> None:
    """Second line of defence (values are checked where they enter): no ',' where buildx splits, no
    control character."""
    separated = [("tag", tag) for tag in request.tags] + [("platform", p) for p in request.platforms]
    separated += [(f"build context {name}", value) for name, value in request.build_contexts]
    separated += [("builder", request.builder)]
    separated += [("SBOM generator", request.sbom_generator)] if request.sbom_generator else []
    for what, value in separated:
        if "," in value:
            raise UnsafeBuildValue(f"node {request.node}: {what} {value!r} contains ','",
                                   "buildx would read it as a separator; check --registry and the stack")
    values = [value for _, value in separated] + list(request.secrets) + [request.target]
    values += [request.cache_from, request.cache_to, str(request.context), str(request.dockerfile)]
    values += [request.builder, request.output]
    values += [text for pair in request.labels for text in pair]
    for value in values:
        if problem := control_problem(value):
            raise UnsafeBuildValue(f"node {request.node}: {problem}", "remove it from the stack or the flags")
    for name, value in request.build_args:  # the value is not quoted: it may be one a log shows as ***
        if control_problem(name) or control_problem(value):
            raise UnsafeBuildValue(f"node {request.node}: build arg {name!r} contains a control character",
                                   "write its value on one line, without control characters")


def buildx_kwargs(request: BuildRequest, metadata_file: Path) -> dict[str, Any]:
    """Keyword arguments for python-on-whales `docker.buildx.build` (the request checked first)."""
    check_request(request)
    kwargs: dict[str, Any] = {
        "context_path": request.context,
        "file": request.dockerfile,
        "platforms": list(request.platforms),
        "tags": list(request.tags),
        "build_args": dict(request.build_args),
        "build_contexts": dict(request.build_contexts),
        "secrets": list(request.secrets),
        "labels": dict(request.labels),
        "push": request.push,
        "metadata_file": metadata_file,
        "progress": "plain",
    }
    if request.target:
        kwargs["target"] = request.target
    if request.load:
        kwargs["load"] = True
    if request.cache_from:
        kwargs["cache_from"] = request.cache_from
    if request.cache_to:
        kwargs["cache_to"] = request.cache_to
    if request.no_cache:
        kwargs["cache"] = False
    if request.pull:
        kwargs["pull"] = True
    if request.builder:
        kwargs["builder"] = request.builder
    if request.output:
        kwargs["output"] = dict(part.split("=", 1) for part in request.output.split(","))
        kwargs["push"] = False
    if request.sbom_generator:
        kwargs["attest"] = {"type": "sbom", "generator": request.sbom_generator}
    kwargs.update(request.extra)
    return kwargs


def buildx_argv(request: BuildRequest, redact: bool = True) -> list[str]:
    """The equivalent command line; for logs and error messages (redact) the values of build args
    whose names look secret are ***."""
    argv = ["docker", "buildx", "build", *(["--builder", request.builder] if request.builder else []),
            "--platform", ",".join(request.platforms), "--file", str(request.dockerfile)]
    for tag in request.tags:
        argv += ["--tag", tag]
    for key, value in redacted_args(request.build_args) if redact else request.build_args:
        argv += ["--build-arg", f"{key}={value}"]
    for name, value in request.build_contexts:
        argv += ["--build-context", f"{name}={value}"]
    for secret in request.secrets:
        argv += ["--secret", secret]
    if request.target:
        argv += ["--target", request.target]
    for flag, value in (("--cache-from", request.cache_from), ("--cache-to", request.cache_to)):
        argv += [flag, value] if value else []
    argv += ["--no-cache"] if request.no_cache else []
    argv += ["--pull"] if request.pull else []
    argv += attest_flags(request.provenance)
    argv += ["--attest", f"type=sbom,generator={request.sbom_generator}"] if request.sbom_generator else []
    if request.output:
        argv += ["--output", request.output]
    elif request.push:
        argv.append("--push")
    if request.load:
        argv.append("--load")
    return [*argv, str(request.context)]


def without_builder(argv: Sequence[str], drop: bool) -> list[str]:
    """argv without its `--builder NAME` when drop (the builder is chosen by `docker --context`)."""
    if not drop or "--builder" not in argv:
        return list(argv)
    at = list(argv).index("--builder")
    return [*argv[:at], *argv[at + 2:]]
