"""Step timings parsed from a `docker buildx build --progress plain` log: pure text in, records out."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

SHARED = "shared"  # the platform_durations key of steps that belong to no platform

_LINE = re.compile(r"^#(\d+) (.*)$")
_DONE = re.compile(r"^DONE(?: (\d+(?:\.\d+)?)s)?$")
_ERROR = re.compile(r"^ERROR(?::\s*(.*))?$")
_LOG_LINE = re.compile(r"^\d+\.\d+(?: |$)")  # "#5 0.512 Get:1 ...": a command's output, never a name
_PLATFORM = r"[a-z][a-z0-9]*/[a-z0-9_]+(?:/[a-z0-9]+)?"  # os/arch[/variant]; stage names hold no "/"
_PREFIX = re.compile(rf"^\[(?:(?P<platform>{_PLATFORM})(?:\s+|(?=\])))?(?P<label>[^\]]*)\]")
_POSITION = re.compile(r"^(?:\S+\s+)?\d+/\d+$")  # "2/4", "builder 2/4", "stage-0 1/2"
_NOT_NAMES = ("CANCELED", "...")  # "#7 ..." marks a step whose output continues later
_PUSHED = re.compile(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+\r?$", re.MULTILINE)  # docker push
_ENDED = re.compile(r"^(?:DONE(?: |$)|CACHED$|CANCELED$|ERROR(?::|$))")
_BANNER = "0"  # "#0 building with "default" instance ...": buildx's banner, not a step


@dataclass(frozen=True)
class StepTiming:
    """One `#N` step of a build log: its name as printed, platform, seconds, and how it ended."""

    step: str  # "#5"
    platform: str  # "linux/arm64"; "" when the name has no platform in its [...] prefix
    name: str  # the step's name as printed, e.g. "[linux/arm64 2/4] RUN apt-get update"
    seconds: float = 0.0
    cached: bool = False
    error: str = ""


def parse_steps(log_text: str) -> tuple[StepTiming, ...]:
    """One record per #N step, in first-appearance order; lines of different steps may interleave."""
    steps: dict[str, StepTiming] = {}
    for raw in log_text.splitlines():
        match = _LINE.match(raw.rstrip("\r"))
        if match is None or match.group(1) == _BANNER:
            continue
        step = f"#{match.group(1)}"
        steps[step] = _apply(steps.get(step), step, match.group(2).strip())
    return tuple(steps.values())


def _apply(current: StepTiming | None, step: str, text: str) -> StepTiming:
    """The step after one more of its lines: a header, a status (DONE/CACHED/ERROR/CANCELED) or output."""
    record = current or StepTiming(step, "", "")
    done, error = _DONE.match(text), _ERROR.match(text)
    if done is not None:
        return replace(record, seconds=float(done.group(1) or 0.0), cached=False)
    if text == "CACHED":
        return replace(record, seconds=0.0, cached=True)
    if error is not None:
        return replace(record, error=error.group(1) or "unknown error")
    if text in _NOT_NAMES or record.name or _LOG_LINE.match(text):
        return record
    return replace(record, name=text, platform=_platform_of(text))


def _platform_of(name: str) -> str:
    """The platform of a step name's [...] prefix, '' when it has none."""
    match = _PREFIX.match(name)
    return (match.group("platform") or "") if match else ""


def is_dockerfile_step(step: StepTiming) -> bool:
    """Whether the step is a Dockerfile instruction: its prefix ends in n/m ([2/4], [builder 2/4], ...)."""
    match = _PREFIX.match(step.name)
    return match is not None and _POSITION.match(match.group("label").strip()) is not None


def platform_durations(steps: Iterable[StepTiming]) -> dict[str, float]:
    """Seconds spent per platform (steps without one under "shared"), rounded to 0.01."""
    totals: dict[str, float] = {}
    for step in steps:
        key = step.platform or SHARED
        totals[key] = totals.get(key, 0.0) + step.seconds
    return {key: round(seconds, 2) for key, seconds in totals.items()}


def fully_cached(steps: Iterable[StepTiming]) -> bool:
    """Whether every Dockerfile step was CACHED (False when the log shows no Dockerfile step at all)."""
    dockerfile = [step for step in steps if is_dockerfile_step(step)]
    return bool(dockerfile) and all(step.cached for step in dockerfile)


def failed_step(steps: Iterable[StepTiming]) -> StepTiming | None:
    """The first step that ended with an ERROR, None when none did."""
    return next((step for step in steps if step.error), None)


# a fault's own words; an operation's name ("failed to push") counts only when no refusal or missing
# thing is named (DEFINITIVE_PATTERNS, _REFUSED); "failed to do request" is a request never answered,
# '": EOF' a Go request ('Get "URL": EOF') whose connection closed unanswered
TRANSIENT_PATTERNS = (
    "500 Internal Server Error", "502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout",
    "429 Too Many Requests", "unexpected status: 5", "connection reset by peer", "connection refused",
    "i/o timeout", "TLS handshake timeout", "unexpected EOF", "broken pipe", "context deadline exceeded",
    "server misbehaving", "Client.Timeout exceeded", '": EOF', "failed to push", "failed to do request",
)
DEFINITIVE_PATTERNS = ("did not complete successfully: exit code", "manifest unknown", "not found", "denied",
                       "unauthorized", "failed to read dockerfile", "dockerfile parse error")
_REFUSED = re.compile(r"\b4(?!08|29)\d\d [A-Z][a-z]")  # "403 Forbidden", "401 Unauthorized": asked wrongly
_STEP_ERROR = re.compile(r"^#(\d+) ERROR\b")
_QUOTED = ("------", "--------------------")  # around buildx's copy of a step's output; a Dockerfile excerpt


def transient_failure(log_text: str) -> str:
    """Why a failed build may succeed if run again (a registry or network fault), or '' if it may not.

    Only buildx's and docker push's own words count, never a command's output: a failing Dockerfile
    step (a RUN that exits non-zero), a missing file, image or parent, or a registry's refusal is
    definitive.
    """
    words = _fault_words(log_text)
    if _REFUSED.search(words) or any(pattern in words for pattern in DEFINITIVE_PATTERNS):
        return ""
    return next((pattern for pattern in TRANSIENT_PATTERNS if pattern in words), "")


def _fault_words(log_text: str) -> str:
    """The last step's ERROR line (a failed cache import before it only warns) and every line outside
    the steps (buildx's final ERROR, docker push's output), without what buildx quotes between dashes
    and without the logged command lines."""
    importing = {step.step for step in parse_steps(log_text) if step.name.startswith("importing cache")}
    step_error, outside, quoted = "", [], False
    for raw in log_text.splitlines():
        line = raw.rstrip("\r")
        error = _STEP_ERROR.match(line)
        if line in _QUOTED:
            quoted = not quoted
        elif error is not None and f"#{error.group(1)}" not in importing:
            step_error = line
        elif not (quoted or line.startswith(("#", "$ "))):
            outside.append(line)
    return "\n".join([step_error, *outside])


def only_cache_export_failed(log_text: str) -> bool:
    """Whether the build failed only while exporting its layer cache (the image itself was pushed: by
    BuildKit, or stored and then sent by `docker push`)."""
    pushed = "pushing layers" in log_text or bool(pushed_digest(log_text))
    return pushed and _cache_export_was_fatal(parse_steps(log_text))


def cache_export_failed_after_image(log_text: str) -> bool:
    """Whether the build failed only while exporting its layer cache, after storing its image."""
    steps = parse_steps(log_text)
    stored = any(step.name == "exporting to image" and not step.error for step in steps)
    return stored and _cache_export_was_fatal(steps)


def _cache_export_was_fatal(steps: tuple[StepTiming, ...]) -> bool:
    errors = [step for step in steps if step.error]
    fatal = errors[-1] if errors else None  # a failed cache *import* earlier is only a warning
    return fatal is not None and fatal.name.startswith("exporting cache")


def pushed_digest(log_text: str) -> str:
    """The digest the last `docker push` in a log reported ('TAG: digest: sha256:... size: N'), or ''."""
    found = _PUSHED.findall(log_text)
    return found[-1] if found else ""


def stalled_in_dockerfile_step(log_text: str) -> bool:
    """Whether a RUN step was still running when the build stalled (a hung command: not a transfer),
    on any platform or stage, whichever step printed the last line."""
    ended = _ended_steps(log_text)
    return any(step.step not in ended and _runs_a_command(step) for step in parse_steps(log_text))


def _runs_a_command(step: StepTiming) -> bool:
    """Whether the step is a Dockerfile RUN ("[2/4] RUN ...", "[linux/arm64 builder 3/5] RUN ...")."""
    match = _PREFIX.match(step.name)
    return is_dockerfile_step(step) and match is not None and step.name[match.end():].startswith(" RUN ")


def _ended_steps(log_text: str) -> set[str]:
    """The steps that printed DONE, CACHED, ERROR or CANCELED ("#7 ..." only pauses a step's output)."""
    ended = set()
    for raw in log_text.splitlines():
        match = _LINE.match(raw.rstrip("\r"))
        if match is not None and _ENDED.match(match.group(2).strip()):
            ended.add(f"#{match.group(1)}")
    return ended
