"""On the docker driver a build sends each manifest to the registry once (buildx 0.13 asked to --push
there pushes twice: BuildKit's exporter, then "pushing ... with docker").

A counting proxy (faultproxy.py with no faults) sits in front of a throwaway registry.
"""

from __future__ import annotations

from pathlib import Path

from engine.build.builder import BuildxBuilder
from engine.build.request import BuildRequest
from engine.errors import BuildError
from engine.registry.client import RegistryClient
from engine.run.faults import transient_reason
from tests.integration.conftest import payload_context
from tests.integration.faultproxy import FaultInjector

PLATFORMS = ("linux/amd64", "linux/arm64")


def test_each_manifest_of_a_build_is_put_once_and_the_pushed_digest_is_the_built_one(
        tmp_path: Path, registry: str, builder: BuildxBuilder) -> None:
    context = payload_context(tmp_path / "ctx")
    log = tmp_path / "n.log"
    for attempt in range(3):  # again, counted anew, after distribution's HEAD 500 (not what is tested)
        with FaultInjector(registry.replace("localhost", "127.0.0.1"), seed=0) as counting:
            tag = f"{counting.address}/once/n:sb-1"
            request = BuildRequest(node="n", context=context, dockerfile=context / "Dockerfile",
                                   platforms=PLATFORMS, tags=(tag,), provenance="max")
            try:
                result = builder.build(request, log)
                break
            except BuildError as error:
                if attempt == 2 or transient_reason(error) != "500 Internal Server Error":
                    raise
    # the index, one image and one attestation manifest per platform: each once (twice before)
    assert counting.counts["PUT manifests"] == 5, dict(counting.counts)
    assert RegistryClient().digest(f"{registry}/once/n:sb-1") == result.digest
    text = log.read_text()
    assert "--output type=image" in text.splitlines()[0] and "with docker" not in text
    assert f"push {tag}" in text and f"digest: {result.digest}" in text
