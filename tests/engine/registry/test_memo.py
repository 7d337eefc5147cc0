"""ManifestMemo: manifests kept by digest only, checked against it, within a byte budget."""

from __future__ import annotations

import hashlib

from engine.registry import memo as memo_module
from engine.registry.memo import ManifestMemo
from engine.registry.names import parse_reference
from engine.registry.transport import Response


def reply(body: bytes) -> tuple[str, Response]:
    return "sha256:" + hashlib.sha256(body).hexdigest(), Response(200, {}, body)


def test_a_manifest_is_kept_by_repository_and_digest_only() -> None:
    memo = ManifestMemo()
    digest, response = reply(b'{"schemaVersion": 2}')
    memo.keep(parse_reference(f"localhost:5000/app@{digest}"), response)
    memo.keep(parse_reference("localhost:5000/app:1"), response)
    assert memo.get(parse_reference(f"localhost:5000/app@{digest}")) is response
    assert memo.get(parse_reference(f"localhost:5000/other@{digest}")) is None
    assert memo.get(parse_reference(f"localhost:5001/app@{digest}")) is None
    assert memo.get(parse_reference("localhost:5000/app:1")) is None


def test_a_body_without_its_digest_is_not_kept() -> None:
    memo = ManifestMemo()
    name = parse_reference(f"localhost:5000/app@sha256:{'3' * 64}")
    memo.keep(name, Response(200, {}, b"{}"))
    assert memo.get(name) is None


def test_the_least_recently_read_go_first_when_the_budget_is_spent() -> None:
    bodies = [b"x" * 100 + bytes([n]) for n in range(3)]
    memo = ManifestMemo(budget_bytes=2 * 101)
    names = []
    for body in bodies[:2]:
        digest, response = reply(body)
        names.append(parse_reference(f"localhost:5000/app@{digest}"))
        memo.keep(names[-1], response)
    assert memo.get(names[0]) is not None  # read again: now the most recent
    digest, response = reply(bodies[2])
    names.append(parse_reference(f"localhost:5000/app@{digest}"))
    memo.keep(names[2], response)
    assert [memo.get(name) is not None for name in names] == [True, False, True]


def test_a_manifest_larger_than_the_largest_kept_is_read_again() -> None:
    memo = ManifestMemo()
    digest, response = reply(b"y" * (memo_module.LARGEST_BYTES + 1))
    memo.keep(parse_reference(f"localhost:5000/app@{digest}"), response)
    assert memo.get(parse_reference(f"localhost:5000/app@{digest}")) is None
