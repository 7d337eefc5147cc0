"""What a registry failure is and what to do about it: retry (with which wait), refuse, or redact."""

from __future__ import annotations

import datetime
import email.utils
import json
import re
import time

import structlog
from tenacity import RetryCallState, wait_random_exponential

from engine.errors import RegistryError

log = structlog.get_logger()
ERROR_BODY_BYTES = 64 * 1024  # of an error answer, read for its message

_SECRET = r"[^\s,&\"'()\[\]{}<>]+"  # a credential runs to a space, a separator, a quote or a bracket
_USERINFO = re.compile(r"(?<=://)[^/\s]*@")  # up to the last @ before the host: a password may hold an @
# an Authorization (or Proxy-Authorization) header's value, whatever its scheme, as a header, a form
# field or a dict's item
_AUTH_HEADER = re.compile(r"(?i)\b(authorization(?:\s*[:=]\s*|[\"']\s*:\s*)[\"']?)(?:[a-z][\w-]*\s+)?"
                          + _SECRET)
# a token, password or secret as a query or form field, a keyword or a JSON item (refresh_token,
# id_token, client_secret, ...); credentials after an auth scheme's name
_AUTH_VALUE = re.compile(r"(?i)\b([\w-]*(?:token|password|passwd|secret)(?:\s*=\s*[\"']?|[\"']\s*:\s*[\"'])"
                         r"|(?-i:Bearer|Basic)\s+)" + _SECRET)



class TransientRegistryError(RegistryError):
    """A failure worth retrying: 5xx, 429, a reset connection or a timeout."""

    def __init__(self, message: str, retry_after: float = 0.0, hint: str = "") -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class RegistryUnreachable(RegistryError):
    """Nothing answers at the registry's address: not worth retrying."""


class AnswerTooLarge(RegistryError):
    """An answer larger than a registry sends for what was asked: not read further, not retried."""


def redact(text: str) -> str:
    """text without credentials: userinfo in URLs and Authorization/token values become ***."""
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + "***", _USERINFO.sub("***@", text))
    return _AUTH_VALUE.sub(lambda m: m.group(1) + "***", text)


def retry_after(value: str, now: float | None = None) -> float:
    """Seconds a Retry-After value asks to wait (delta-seconds or an HTTP date), 0 when unusable."""
    value = value.strip()
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0.0
    if when.tzinfo is None:  # asctime's form, or -0000: HTTP dates are in GMT (RFC 9110, 5.6.7)
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RegistryRefusal(RegistryError):
    """The registry answered with a definitive 4xx; status says which."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.status = status


class LoginRefused(RegistryRefusal):
    """The registry wants credentials it was not given, or refused them: fixed by `docker login`."""

    exit_code = 2


def refusal(status: int, where: str, host: str, scope: str, logged_in: bool,
            body: bytes = b"") -> RegistryRefusal:
    """What a definitive refusal means and how to fix it (with the registry's own words from body)."""
    if status == 401:
        how = (f"the saved credentials were refused: run `docker login {host}` again" if logged_in
               else f"run `docker login {host}`")
        return LoginRefused(status, f"{where}: HTTP 401 unauthorized", how)
    said = error_detail(body)
    said = f": {said}" if said else ""
    if status == 403:
        rights = f"{scope.rsplit(':', 1)[-1]} rights" if scope else "access"
        return RegistryRefusal(status, f"{where}: HTTP 403 denied{f' ({scope})' if scope else ''}{said}",
                               f"ask for {rights} on {host}, or log in as another user with "
                               f"`docker login {host}`")
    return RegistryRefusal(status, f"{where}: HTTP {status}{said}")


def error_detail(body: bytes) -> str:
    """The first error of a registry's JSON error answer as `CODE: message` (redacted, at most 200
    characters); '' when the answer is not one."""
    try:
        errors = json.loads(body[:ERROR_BODY_BYTES]).get("errors") if body else None
    except (ValueError, AttributeError, RecursionError):
        return ""
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, dict):
        return ""
    parts = [str(first.get(key) or "").strip() for key in ("code", "message")]
    text = " ".join(redact(": ".join(part for part in parts if part)).split())
    # the registry's words reach terminals and reports: no escape sequence, NUL or bidi control in them
    return "".join(char if char.isprintable() else "\ufffd" for char in text)[:200]


_backoff = wait_random_exponential(multiplier=0.2, max=5)


def retry_wait(state: RetryCallState) -> float:
    """Retry-After when the registry gave one (capped at 30 s), else jittered exponential backoff."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, TransientRegistryError) and error.retry_after > 0:
        return min(error.retry_after, 30.0)
    return float(_backoff(state))


def log_retry(state: RetryCallState) -> None:
    """Log a registry call about to be tried again, its credentials redacted."""
    error = state.outcome.exception() if state.outcome else None
    log.warning("registry_retried", attempt=state.attempt_number, reason=redact(str(error)))
