"""engine.registry.session: one ping per host, the Accept header, retries, 404 and refusals, counting."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from tenacity import wait_none

import engine.registry.failures
from engine.errors import RegistryError
from engine.registry.endpoints import endpoint_for
from engine.registry.manifest import ACCEPT
from engine.registry.session import RegistrySession
from tests.engine.registry.fakeregistry import FakeRegistry, Reply

PATH = "/v2/t/a/manifests/1"
SCOPE = "repository:t/a:pull"


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the retries but not their back-off sleeps."""
    monkeypatch.setattr(engine.registry.failures, "_backoff", wait_none())


def test_a_host_is_pinged_once_however_many_threads_ask(registry: FakeRegistry) -> None:
    registry.script("/v2/", Reply(200, b"{}"))
    registry.script(PATH, Reply(200, b"{}"))
    session = RegistrySession(timeout_s=5, attempts=2)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: session.request(endpoint_for(registry.host), "GET", PATH, SCOPE),
                                range(24)))
    assert all(answer is not None and answer.status == 200 for answer in answers)
    assert registry.count("/v2/") == 1
    assert session.requests == {"ping": 1, "GET": 24}


def test_every_request_accepts_manifests_and_indexes_unless_told(registry: FakeRegistry) -> None:
    registry.script(PATH, Reply(200, b"{}"))
    session = RegistrySession(timeout_s=5, attempts=1)
    session.request(endpoint_for(registry.host), "GET", PATH, SCOPE)
    session.request(endpoint_for(registry.host), "GET", PATH, SCOPE, headers={"Accept": "text/plain"})
    assert [accept for path, accept in registry.requests if path == PATH] == [ACCEPT, "text/plain"]


def test_a_transient_answer_is_retried_and_a_404_is_none_at_once(registry: FakeRegistry) -> None:
    registry.script(PATH, Reply(503), Reply(429), Reply(200, b"ok"))
    session = RegistrySession(timeout_s=5, attempts=3)
    answer = session.request(endpoint_for(registry.host), "GET", PATH, SCOPE)
    assert answer is not None and answer.body == b"ok"
    assert session.request(endpoint_for(registry.host), "GET", "/v2/t/a/manifests/none", SCOPE) is None
    assert session.requests["GET"] == 4  # three for the retried one, one for the 404


def test_a_refusal_is_a_registry_error_naming_the_request_and_not_retried(registry: FakeRegistry) -> None:
    registry.script(PATH, Reply(403, b'{"errors":[{"code":"DENIED"}]}'))
    session = RegistrySession(timeout_s=5, attempts=5)
    with pytest.raises(RegistryError) as caught:
        session.request(endpoint_for(registry.host), "GET", PATH, SCOPE)
    assert caught.value.message == f"GET http://{registry.host}{PATH}: HTTP 403 denied ({SCOPE}): DENIED"
    assert registry.count(PATH) == 1
