"""engine.run.supply over a fake registry and a fake cosign: each fault named with its node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.errors import RegistryError
from engine.registry import intoto
from engine.registry.failures import RegistryUnreachable
from engine.registry.manifest import Manifest, config_labels
from engine.run import supply
from graph.expand.dag import graph_of
from tests.engine.supply_fakes import IMAGE, FakeCosign, FakeRegistry, R, published_stack, stack_nodes


def _verify(registry: FakeRegistry, signed: set[str]) -> dict[str, tuple[str, ...]]:
    base, leaf = stack_nodes()
    graph = graph_of([base, leaf])
    verdicts = supply.verify(graph, supply.built_nodes(graph), registry, FakeCosign(signed),  # type: ignore[arg-type]
                             Path("k.pub"))
    return {verdict.node: verdict.problems for verdict in verdicts}


def test_signed_images_with_provenance_and_sboms_pass() -> None:
    registry, signed = published_stack()
    assert _verify(registry, signed) == {"base": (), "leaf": ()}


def test_an_unsigned_digest_fails_for_its_node_only() -> None:
    registry, signed = published_stack()
    leaf = registry.tags[f"{R}/img:leaf"]
    signed.discard(f"{R}/img@{leaf}")
    problems = _verify(registry, signed)
    assert problems["base"] == ()
    assert problems["leaf"] == (f"signature: no valid signature for the key on {leaf} (no signatures found)",)


def test_a_tag_pointing_at_another_nodes_image_is_named() -> None:
    registry, signed = published_stack()
    registry.tags[f"{R}/img:leaf"] = registry.tags[f"{R}/img:base"]
    problems = _verify(registry, signed)["leaf"]
    assert any("an image of node base, not of leaf" in problem for problem in problems)
    assert "linux/amd64: provenance does not name parent base" in "\n".join(problems)


def test_missing_sbom_and_provenance_are_named_per_platform() -> None:
    registry, signed = published_stack()
    base, _ = stack_nodes()
    digest = registry.push(base, sbom=False, provenance=False)
    signed.add(f"{R}/img@{digest}")
    problems = _verify(registry, signed)["base"]
    assert problems == ("linux/amd64: no provenance attestation", "linux/amd64: no SBOM attestation",
                        "linux/arm64: no provenance attestation", "linux/arm64: no SBOM attestation")


def test_a_missing_tag_is_a_problem_not_a_crash() -> None:
    registry, signed = published_stack()
    del registry.tags[f"{R}/img:leaf"]
    assert _verify(registry, signed)["leaf"] == (f"tag {R}/img:leaf is not in the registry",)


def test_material_digests_read_slsa_v02_and_v1() -> None:
    v02 = {"predicate": {"materials": [{"uri": "x", "digest": {"sha256": "aa"}}, {"uri": "y"}]}}
    v1 = {"predicate": {"buildDefinition": {"resolvedDependencies": [{"digest": {"sha256": "bb"}}]}}}
    assert intoto.material_digests(v02) == {"sha256:aa"}
    assert intoto.material_digests(v1) == {"sha256:bb"}
    assert intoto.material_digests({}) == set()


def _publish_base(**push: Any) -> tuple[FakeRegistry, set[str], str]:
    """The published stack with base pushed again as push says, and signed."""
    registry, signed = published_stack()
    digest = registry.push(stack_nodes()[0], **push)
    signed.add(f"{R}/img@{digest}")
    return registry, signed, digest


def test_statements_about_another_image_fail_for_that_platform() -> None:
    registry, signed = published_stack()
    other = registry.manifests[registry.tags[f"{R}/img:leaf"]].platforms()["linux/arm64"]
    signed.add(f"{R}/img@{registry.push(stack_nodes()[0], subjects={'linux/arm64': other})}")
    problems = _verify(registry, signed)["base"]
    assert [problem.split(" is about")[0] for problem in problems] == [
        "linux/arm64: the provenance attestation", "linux/arm64: the SBOM attestation"]
    assert all(other[:19] in problem for problem in problems)


def test_an_image_of_another_node_on_one_platform_fails() -> None:
    registry, signed, digest = _publish_base(labels={"linux/arm64": "leaf"})
    assert _verify(registry, signed)["base"] == (
        f"tag {R}/img:base points to {digest}, an image of node leaf, not of base (its linux/arm64 image)",)


def test_a_platform_the_node_wants_but_the_index_lacks_fails() -> None:
    registry, signed, _ = _publish_base(platforms=("linux/amd64",))
    assert _verify(registry, signed)["base"] == (
        "linux/arm64: the index has no image for it (it has linux/amd64)",)


def test_hostile_configs_and_statements_are_problems_not_crashes() -> None:
    registry, signed, digest = _publish_base()
    for image in registry.manifests[digest].platforms().values():
        registry.configs[image] = {"config": ["not", "an", "object"]}
    for blob in list(registry.blobs):
        registry.blobs[blob] = json.dumps({"subject": "x", "predicate": {"materials": 7}}).encode()
    problems = _verify(registry, signed)["base"]
    assert problems[0] == f"tag {R}/img:base points to {digest}, an image of node (unlabelled), not of base"
    assert problems[1] == "linux/amd64: the provenance attestation is about no image, not this platform's " \
                          f"image {registry.manifests[digest].platforms()['linux/amd64'][:19]}"
    assert len(problems) == 5


def test_subject_digests_take_only_sha256_strings() -> None:
    subjects = [{"digest": {"sha256": "aa"}}, {"digest": {"sha256": 5}}, {"digest": "x"}, "y",
                {"digest": {"sha512": "bb"}}]
    assert intoto.subject_digests({"subject": subjects}) == {"sha256:aa"}
    assert intoto.subject_digests({"subject": {"digest": {"sha256": "aa"}}}) == set()
    assert config_labels({"config": {"Labels": ["x"]}}) == {} and config_labels(None) == {}


def test_sign_signs_the_pinned_digest_even_when_the_tag_moved() -> None:
    registry, _ = published_stack()
    base, leaf = stack_nodes()
    built = registry.tags[base.ref]
    registry.tags[base.ref] = registry.push(base, sbom=False)  # another run moved the tag meanwhile
    cosign = FakeCosign(set())
    signed = supply.sign([base, leaf], registry, cosign, Path("k.key"),  # type: ignore[arg-type]
                         pinned={"base": built, "leaf": registry.tags[leaf.ref]})
    assert signed[0] == f"{R}/img@{built}"
    assert cosign.signed == {f"{R}/img@{built}", f"{R}/img@{registry.tags[leaf.ref]}"}


def test_a_node_whose_attestations_are_malformed_fails_alone() -> None:
    registry, signed = published_stack()
    leaf_index = registry.manifests[registry.tags[f"{R}/img:leaf"]]
    attestation = next(entry["digest"] for entry in leaf_index.body["manifests"]
                       if entry["platform"]["os"] == "unknown")
    registry.manifests[attestation] = Manifest(attestation, IMAGE, {"layers": "not a list"})
    verdicts = _verify(registry, signed)
    assert verdicts["base"] == ()
    assert verdicts["leaf"] == (f"attestations: manifest {attestation}: its `layers` is not a list of "
                                "descriptors with digests (the registry (or a proxy in front of it) serves a "
                                "malformed manifest: push the image again, or check the registry)",)


def test_a_registry_that_cannot_be_reached_stops_verify() -> None:
    class Unreachable(FakeRegistry):
        def manifest(self, reference: str) -> Manifest | None:
            raise RegistryUnreachable("no registry answers at http://r")

    registry, signed = published_stack()
    broken = Unreachable()
    broken.__dict__.update(registry.__dict__)
    with pytest.raises(RegistryUnreachable):
        _verify(broken, signed)


def test_sign_refuses_an_image_of_another_node_under_the_tag_and_signs_nothing_of_it() -> None:
    registry, _ = published_stack()
    base, leaf = stack_nodes()
    planted = registry.push(base, labels={"linux/arm64": "leaf"})  # someone pushed a leaf image as base
    cosign = FakeCosign(set())
    with pytest.raises(RegistryError) as caught:
        supply.sign([base, leaf], registry, cosign, Path("k.key"))  # type: ignore[arg-type]
    assert caught.value.message == (f"node base: not signed: tag {R}/img:base points to {planted}, an image "
                                    "of node leaf, not of base (its linux/arm64 image)")
    assert cosign.signed == set()
