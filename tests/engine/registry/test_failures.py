"""engine.registry.failures directly: errors, refusal, retry_after, the retry wait, log_retry, redact."""

from __future__ import annotations

import json
import random
import time

import pytest
import structlog
from structlog.testing import capture_logs
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

import engine.registry.failures
from engine.errors import RegistryError
from engine.registry.failures import (
    AnswerTooLarge,
    LoginRefused,
    RegistryRefusal,
    RegistryUnreachable,
    TransientRegistryError,
    error_detail,
    log_retry,
    redact,
    refusal,
    retry_after,
    retry_wait,
)

NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT
WHERE = "HEAD https://r.example:5000/v2/team/app/manifests/1"
HOST = "r.example:5000"


def call_state(error: BaseException | None, attempt: int = 1) -> RetryCallState:
    """A tenacity call state whose attempt number attempt raised error (None: it returned)."""
    state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    if error is None:
        state.set_result("answer")
    else:
        state.set_exception((type(error), error, None))
    return state


@pytest.fixture
def window_tops(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """The (low, high) of every jitter draw; each draw returns its high end, so waits are exact."""
    draws: list[tuple[float, float]] = []

    def top(low: float, high: float) -> float:
        draws.append((low, high))
        return high

    monkeypatch.setattr(random, "uniform", top)
    return draws


@pytest.fixture
def uncached_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh logger proxy, so capture_logs sees the events even after another test cached one."""
    monkeypatch.setattr(engine.registry.failures, "log", structlog.get_logger())


# --- error classes ------------------------------------------------------------------------------


def test_a_transient_error_keeps_its_message_hint_and_retry_after() -> None:
    error = TransientRegistryError("GET https://r.example/v2/: HTTP 503", 4.5, "the registry is restarting")
    assert (error.message, error.hint, error.retry_after) == (
        "GET https://r.example/v2/: HTTP 503", "the registry is restarting", 4.5)
    assert str(error) == "GET https://r.example/v2/: HTTP 503 (the registry is restarting)"
    assert error.exit_code == 1


def test_a_transient_error_asks_for_no_particular_wait_by_default() -> None:
    error = TransientRegistryError("GET https://r.example/v2/: HTTP 502")
    assert (error.retry_after, error.hint, str(error)) == (0.0, "", "GET https://r.example/v2/: HTTP 502")


@pytest.mark.parametrize("error", [RegistryUnreachable("x", "y"), AnswerTooLarge("x"),
                                   RegistryRefusal(400, "x")])
def test_unreachable_too_large_and_refused_are_registry_errors_the_retry_predicate_skips(
        error: RegistryError) -> None:
    assert not retry_if_exception_type(TransientRegistryError)(call_state(error))
    assert retry_if_exception_type(TransientRegistryError)(call_state(TransientRegistryError("x")))
    assert error.exit_code == 1


# --- refusal ------------------------------------------------------------------------------------


def test_a_401_without_saved_credentials_is_a_login_refusal_with_exit_code_2() -> None:
    error = refusal(401, WHERE, HOST, "repository:team/app:pull", logged_in=False)
    assert type(error) is LoginRefused
    assert (error.status, error.exit_code) == (401, 2)
    assert error.message == f"{WHERE}: HTTP 401 unauthorized"
    assert error.hint == "run `docker login r.example:5000`"
    assert str(error) == f"{WHERE}: HTTP 401 unauthorized (run `docker login r.example:5000`)"


def test_a_401_with_saved_credentials_says_they_were_refused() -> None:
    error = refusal(401, WHERE, HOST, "repository:team/app:pull", logged_in=True)
    assert type(error) is LoginRefused
    assert error.message == f"{WHERE}: HTTP 401 unauthorized"
    assert error.hint == "the saved credentials were refused: run `docker login r.example:5000` again"


@pytest.mark.parametrize("logged_in", [False, True])
def test_a_403_names_the_scope_and_asks_for_its_rights(logged_in: bool) -> None:
    error = refusal(403, WHERE, HOST, "repository:team/app:pull,push", logged_in)
    assert type(error) is RegistryRefusal  # not a login problem: exit code 1
    assert (error.status, error.exit_code) == (403, 1)
    assert error.message == f"{WHERE}: HTTP 403 denied (repository:team/app:pull,push)"
    assert error.hint == ("ask for pull,push rights on r.example:5000, or log in as another user with "
                          "`docker login r.example:5000`")


def test_a_403_without_a_scope_asks_for_access() -> None:
    error = refusal(403, WHERE, HOST, "", logged_in=True)
    assert (error.message, error.hint) == (
        f"{WHERE}: HTTP 403 denied",
        "ask for access on r.example:5000, or log in as another user with `docker login r.example:5000`")


@pytest.mark.parametrize("status", [400, 405, 409, 413, 451])
def test_other_refusals_name_only_the_request_and_the_status(status: int) -> None:
    error = refusal(status, WHERE, HOST, "repository:team/app:pull", logged_in=True)
    assert type(error) is RegistryRefusal
    assert error.status == status
    assert (error.message, error.hint) == (f"{WHERE}: HTTP {status}", "")
    assert str(error) == f"{WHERE}: HTTP {status}"


def test_a_refusal_quotes_the_registrys_first_error_redacted() -> None:
    body = json.dumps({"errors": [{"code": "MANIFEST_INVALID", "message": "manifest invalid",
                                   "detail": {"url": "x"}}, {"code": "SECOND"}]}).encode()
    assert refusal(400, WHERE, HOST, "s", True, body).message == (
        f"{WHERE}: HTTP 400: MANIFEST_INVALID: manifest invalid")
    denied = json.dumps({"errors": [{"code": "DENIED", "message": "no pushes with\ntoken=abc"}]}).encode()
    assert refusal(403, WHERE, HOST, "repository:a:push", False, denied).message == (
        f"{WHERE}: HTTP 403 denied (repository:a:push): DENIED: no pushes with token=***")
    assert refusal(401, WHERE, HOST, "s", False, denied).message == f"{WHERE}: HTTP 401 unauthorized"


@pytest.mark.parametrize("body", [b"", b"<html>403 Forbidden</html>", b'{"errors": []}', b'{"errors": "x"}',
                                  b"[1]", b'{"errors": [1]}', b"\xff\xfe"])
def test_an_answer_that_is_no_registry_error_adds_nothing(body: bytes) -> None:
    assert error_detail(body) == ""
    assert refusal(400, WHERE, HOST, "s", True, body).message == f"{WHERE}: HTTP 400"


def test_the_registrys_words_are_cut_to_200_characters() -> None:
    body = json.dumps({"errors": [{"code": "TOO_MANY", "message": "x" * 10_000}]}).encode()
    assert len(error_detail(body)) == 200


def test_the_registrys_words_reach_the_terminal_without_control_characters() -> None:
    message = "bad\x1b]0;owned\x07 \x00name\u202egnp.exe\n next"
    body = json.dumps({"errors": [{"code": "NAME_INVALID", "message": message}]}).encode()
    assert error_detail(body) == "NAME_INVALID: bad\ufffd]0;owned\ufffd \ufffdname\ufffdgnp.exe next"


# --- retry_after --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(" 5 ", 5.0), ("\t12\r\n", 12.0), ("-0", 0.0), ("0", 0.0)])
def test_retry_after_seconds_may_be_surrounded_by_whitespace(value: str, expected: float) -> None:
    assert retry_after(value, now=NOW) == expected


@pytest.mark.parametrize("value", [
    "Wed, 21 Oct 2015 08:28:12 +0100",  # a numeric offset
    "Wed, 21 Oct 2015 02:28:12 EST",  # a named zone
    "Wednesday, 21-Oct-15 07:28:12 GMT",  # the obsolete RFC 850 form
    "21 Oct 2015 07:28:12 GMT",  # no weekday
    "Wed Oct 21 07:28:12 2015",  # asctime's form, in GMT as every HTTP date (RFC 9110)
    "Wed, 21 Oct 2015 07:28:12 -0000",  # no zone said: GMT
])
def test_retry_after_dates_in_any_zone_count_from_now(value: str) -> None:
    assert retry_after(value, now=NOW) == 12.0


@pytest.mark.parametrize("value", [
    "Wed, 21 Oct 2015 25:28:12 GMT", "Wed, 32 Oct 2015 07:28:12 GMT", "Wed, 21 Oct 99999 07:28:12 GMT",
    "Wed, 21 Oct 2015", "GMT", ",", "12 seconds", "nan",
])
def test_retry_after_that_is_no_delay_and_no_full_date_is_unusable(value: str) -> None:
    assert retry_after(value, now=NOW) == 0.0


def test_retry_after_dates_count_from_the_wall_clock_without_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: NOW)
    assert retry_after("Wed, 21 Oct 2015 07:28:30 GMT") == 30.0
    assert retry_after("Wed, 21 Oct 2015 07:27:42 GMT") == 0.0
    assert retry_after("9") == 9.0


def test_retry_after_now_zero_is_the_epoch_not_the_wall_clock() -> None:
    assert retry_after("Thu, 01 Jan 1970 00:00:05 GMT", now=0.0) == 5.0


# --- the retry wait: Retry-After, else jittered exponential backoff -----------------------------


def test_the_backoff_window_starts_at_0_2_s_doubles_and_stops_at_5_s(
        window_tops: list[tuple[float, float]]) -> None:
    waits = [retry_wait(call_state(TransientRegistryError("x"), attempt)) for attempt in range(1, 9)]
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert [low for low, _ in window_tops] == [0] * 8  # full jitter: anywhere from no wait


def test_the_backoff_stays_at_5_s_for_huge_attempt_numbers(window_tops: list[tuple[float, float]]) -> None:
    assert retry_wait(call_state(TransientRegistryError("x"), 10_000)) == 5.0


def test_a_failure_that_is_not_transient_or_no_failure_gets_the_backoff(
        window_tops: list[tuple[float, float]]) -> None:
    assert retry_wait(call_state(ConnectionResetError("reset"), 3)) == 0.8
    assert retry_wait(call_state(None, 2)) == 0.4
    assert retry_wait(RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})) == 0.2


@pytest.mark.parametrize(("asked", "expected"), [(0.5, 0.5), (29.5, 29.5), (30.0, 30.0), (30.5, 30.0)])
def test_retry_after_is_waited_exactly_up_to_30_s_whatever_the_attempt(
        window_tops: list[tuple[float, float]], asked: float, expected: float) -> None:
    assert retry_wait(call_state(TransientRegistryError("x", retry_after=asked), 7)) == expected
    assert window_tops == []  # no jitter drawn


@pytest.mark.parametrize("asked", [-3.0, float("nan")])
def test_a_negative_or_unknown_retry_after_falls_back_to_the_backoff(
        window_tops: list[tuple[float, float]], asked: float) -> None:
    assert retry_wait(call_state(TransientRegistryError("x", retry_after=asked), 2)) == 0.4


@pytest.mark.parametrize("header", ["inf", "1e400", "9" * 400, "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_an_enormous_retry_after_header_waits_30_s(header: str) -> None:
    assert retry_wait(call_state(TransientRegistryError("x", retry_after(header, now=NOW)))) == 30.0


# --- log_retry ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("uncached_log")
@pytest.mark.parametrize(("error", "reason"), [
    (TransientRegistryError("GET https://ann:s3cret@r.example/token?token=abc&scope=x: HTTP 503",
                            hint="Authorization: Bearer eyJ.abc.def was sent"),
     "GET https://***@r.example/token?token=***&scope=x: HTTP 503 (Authorization: *** was sent)"),
    (ConnectionResetError("reset after password=pw"), "reset after password=***"),
])
def test_log_retry_warns_with_the_attempt_and_the_redacted_reason(error: BaseException, reason: str) -> None:
    with capture_logs() as events:
        log_retry(call_state(error, 3))
    assert events == [{"event": "registry_retried", "log_level": "warning", "attempt": 3, "reason": reason}]


@pytest.mark.usefixtures("uncached_log")
def test_as_tenacity_hooks_each_failed_attempt_is_logged_and_its_retry_after_waited(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.registry.failures, "_backoff", wait_fixed(0.25))
    answers: list[BaseException | str] = [TransientRegistryError("HTTP 429", 2.0),
                                          TransientRegistryError("HTTP 503", 0.0), "ok"]
    slept: list[float] = []

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    retrying = Retrying(retry=retry_if_exception_type(TransientRegistryError), wait=retry_wait,
                        stop=stop_after_attempt(5), before_sleep=log_retry, sleep=slept.append, reraise=True)
    with capture_logs() as events:
        assert retrying(call) == "ok"
    assert slept == [2.0, 0.25]
    assert [(e["attempt"], e["reason"]) for e in events] == [(1, "HTTP 429"), (2, "HTTP 503")]


# --- redact -------------------------------------------------------------------------------------


def test_redact_hides_the_userinfo_of_every_url_in_a_text() -> None:
    assert redact("ftp://u@h/ then https://v:w@h2:5000/v2/") == "ftp://***@h/ then https://***@h2:5000/v2/"


def test_redact_hides_a_password_holding_an_at_sign_whole() -> None:
    assert redact("https://ann:p@ss@r.example/v2/") == "https://***@r.example/v2/"


@pytest.mark.parametrize("text", [
    "http://127.0.0.1:5000/app@sha256:" + "a" * 64,  # an @ in the path is no userinfo
    "r.example/app@sha256:" + "b" * 64,
    "ann@example.com wrote",
    "basic checks passed, then the authorization header was missing",  # words, not credentials
    "HEAD https://r.example/v2/team/app/manifests/sha256:" + "c" * 64 + "?n=100&last=x",
])
def test_redact_leaves_references_digests_and_plain_queries_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("AUTHORIZATION: bearer   xyz", "AUTHORIZATION: ***"),
    ("Authorization:Bearer abc", "Authorization:***"),
    ("authorization=Basic YW5uOnB3,next", "authorization=***,next"),
    ("Proxy-Authorization: Basic eHl6 sent", "Proxy-Authorization: *** sent"),
    ("{'Authorization': 'Bearer abc.def'}", "{'Authorization': '***'}"),
    ("{'Authorization': 'abc'}", "{'Authorization': '***'}"),  # no scheme
    ("Authorization: Token xyz", "Authorization: ***"),  # any scheme, not only Bearer and Basic
    ("(Authorization: Bearer x)", "(Authorization: ***)"),  # the bracket after it stays
])
def test_redact_hides_authorization_values_in_any_case_and_separator(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("?TOKEN=abc&n=1", "?TOKEN=***&n=1"),
    ("Password=pw, then", "Password=***, then"),
    ("grant_type=password&password=pw&username=ann", "grant_type=password&password=***&username=ann"),
    ('{"url": "https://a/t?access_token=abc"}', '{"url": "https://a/t?access_token=***"}'),
    ("grant_type=refresh_token&refresh_token=r1&id_token=i1",
     "grant_type=refresh_token&refresh_token=***&id_token=***"),
    ('{"token": "t1", "password": "p1", "client_secret": "s1"}',
     '{"token": "***", "password": "***", "client_secret": "***"}'),
    ("Login(password='p1')", "Login(password='***')"),
])
def test_redact_hides_token_and_password_values_up_to_the_next_separator(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redacting_a_redacted_text_changes_nothing() -> None:  # log_retry redacts messages redacted once
    text = "GET https://ann:pw@r.example/t?token=abc&n=1 sent Authorization: Bearer x.y.z, refused"
    assert redact(text) == "GET https://***@r.example/t?token=***&n=1 sent Authorization: ***, refused"
    assert redact(redact(text)) == redact(text)
