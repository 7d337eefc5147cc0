"""A run's retry proxy in front of a local plain-HTTP registry, for the builds repeated after a fault."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from engine.registry.endpoints import endpoint_for
from engine.registry.retryproxy import RetryProxy, local_registry_host, router
from engine.run.planner import Planned
from engine.run.runner import NodeRunner
from graph.plan.entries import BUILD

log = structlog.get_logger()


@contextmanager
def retry_proxy(planned: Planned, runner: NodeRunner) -> Iterator[None]:
    """A retrying proxy for a local plain-HTTP registry: a build repeated after a registry fault goes
    through it (a first build talks to the registry straight: no proxy hop, no attestation renaming)."""
    host = local_registry_host({n.registry for n in planned.graph.nodes.values() if not n.external})
    plain = bool(host) and endpoint_for(host).scheme == "http"  # with a certs.d folder it speaks TLS
    if not plain or not any(entry.action == BUILD for entry in planned.entries):  # only builds use it
        yield
        return
    upstream = host.replace("localhost:", "127.0.0.1:", 1)
    with RetryProxy(upstream) as proxy:
        runner.route, runner.proxied = router(host, proxy.host), (host, proxy.host)
        try:
            yield
        finally:
            if proxy.counts["retries"]:
                log.info("registry_faults_absorbed", node="*", retries=proxy.counts["retries"],
                         requests=proxy.counts["requests"])
