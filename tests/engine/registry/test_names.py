"""engine.registry.names: references normalised by Docker's rules (expected values written out)."""

from __future__ import annotations

import pytest

from engine.registry.names import ImageName, InvalidReference, parse_reference

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(("reference", "expected"), [
    ("ubuntu", "docker.io/library/ubuntu:latest"),
    ("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
    ("openeuler/openeuler:22.03-lts-sp3", "docker.io/openeuler/openeuler:22.03-lts-sp3"),
    ("docker.io/ubuntu", "docker.io/library/ubuntu:latest"),
    ("index.docker.io/library/ubuntu:1", "docker.io/library/ubuntu:1"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/a/b:1", "localhost:5000/a/b:1"),
    ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
    ("registry.example.com/x", "registry.example.com/x:latest"),
    (f"registry.example.com/x@{DIGEST}", f"registry.example.com/x@{DIGEST}"),
    (f"ubuntu:22.04@{DIGEST}", f"docker.io/library/ubuntu:22.04@{DIGEST}"),
    ("ghcr.io/org/a/b/c:tag-dev", "ghcr.io/org/a/b/c:tag-dev"),
    ("a_b/c__d/e-f.g:V1.2_x", "docker.io/a_b/c__d/e-f.g:V1.2_x"),
    ("[::1]:5000/app:1", "[::1]:5000/app:1"),
])
def test_normalised_as_docker_does(reference: str, expected: str) -> None:
    assert str(parse_reference(reference)) == expected


def test_docker_hub_names_are_asked_of_registry_1() -> None:
    name = parse_reference("openeuler/openeuler:22.03-lts-sp3")
    assert name == ImageName("docker.io", "openeuler/openeuler", "22.03-lts-sp3")
    assert name.api_host == "registry-1.docker.io"
    assert name.is_docker_hub
    assert parse_reference("localhost:5000/a").api_host == "localhost:5000"


def test_the_first_component_is_a_host_only_with_a_dot_a_colon_or_localhost() -> None:
    assert parse_reference("openeuler/openeuler").host == "docker.io"
    assert parse_reference("my.host/openeuler").host == "my.host"
    assert parse_reference("myhost:80/openeuler").host == "myhost:80"
    assert parse_reference("localhost/openeuler").host == "localhost"


def test_a_digest_is_what_is_asked_for_even_with_a_tag() -> None:
    name = parse_reference(f"ubuntu:22.04@{DIGEST}")
    assert (name.tag, name.digest, name.ref) == ("22.04", DIGEST, DIGEST)
    assert parse_reference("ubuntu").ref == "latest"


@pytest.mark.parametrize(("reference", "problem"), [
    ("Ubuntu", "'library/Ubuntu' is not a valid repository name"),
    ("localhost:5000/Team/app:1", "'Team/app' is not a valid repository name"),
    ("app:bad tag", "'bad tag' is not a valid tag"),
    ("app:.hidden", "'.hidden' is not a valid tag"),
    ("app@sha256:abc", "'sha256:abc' is not a digest"),
    ("a//b", "'a//b' is not a valid repository name"),
    ("app-", "'library/app-' is not a valid repository name"),
])
def test_invalid_references_are_refused_as_bad_input(reference: str, problem: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        parse_reference(reference)
    assert caught.value.message == f"image reference {reference!r}: {problem}"
    assert caught.value.hint
    assert caught.value.exit_code == 2
