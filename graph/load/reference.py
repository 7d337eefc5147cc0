"""External base image references (`from:`): checked as written and once their templates are filled."""

from __future__ import annotations

import re

# [host[:port]/]path[:tag][@algorithm:hex], after the distribution reference grammar.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?/)"
REFERENCE_RE = re.compile(
    rf"{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
_FORBIDDEN_RE = re.compile(r"[\s,\x00-\x1f\x7f]")
MAX_REFERENCE = 512
REFERENCE_HINT = "write an image reference such as 'docker.io/library/debian:12' (templates: '{attr}')"


def external_problem(text: str) -> str:
    """Why a `from:` value cannot become an image reference, or '' (templates are checked later)."""
    bad = _FORBIDDEN_RE.search(text)
    if bad:
        return (f"'from' {text[:60]!r} contains {bad[0]!r}: "
                "an image reference has no spaces, commas or control characters")
    if len(text) > MAX_REFERENCE:
        return f"'from' is {len(text)} characters long, more than {MAX_REFERENCE}"
    return ""


def reference_problem(reference: str) -> str:
    """Why a filled-in `from:` is not a valid image reference, or ''."""
    problem = external_problem(reference)
    if problem:
        return problem
    if not REFERENCE_RE.fullmatch(reference):
        return f"'from' {reference!r} is not a valid image reference ([host[:port]/]name[:tag][@digest])"
    return ""
