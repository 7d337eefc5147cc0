"""Counting a registry's requests from its access log (bench/accesslog.py)."""

from __future__ import annotations

from pathlib import Path

from bench.accesslog import AccessLog, count_lines

HEAD_TAG = ('127.0.0.1 - - [07/Dec/2026:23:45:43 +0000] "HEAD /v2/scale9/app1/manifests/2.0-dev HTTP/1.1" '
            '200 491 "" "stackbuild"\n')
GET_BASE = '127.0.0.1 - - [07/Dec/2026:23:45:08 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"\n'
PUT_BLOB = ('127.0.0.1 - - [07/Dec/2026:23:45:09 +0000] "PUT /v2/a/b/blobs/uploads/1f2e?digest=sha256:ab '
            'HTTP/1.1" 201 0 "" "stackbuild"\n')


def test_lines_are_counted_by_method_and_kind() -> None:
    lines = [HEAD_TAG, HEAD_TAG, GET_BASE, PUT_BLOB, 'time="..." level=error msg="not a request"']
    assert count_lines(lines) == {"HEAD manifests": 2, "GET base": 1, "PUT uploads": 1}


def test_take_counts_only_what_was_written_since(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text(GET_BASE + HEAD_TAG, encoding="utf-8")
    log = AccessLog(path)
    assert log.take(settle_s=0.01) == {"GET base": 1, "HEAD manifests": 1}
    with path.open("a", encoding="utf-8") as out:
        out.write(HEAD_TAG + HEAD_TAG[:30])  # a line still being written is left for the next take
    assert log.take(settle_s=0.01) == {"HEAD manifests": 1}
    with path.open("a", encoding="utf-8") as out:
        out.write(HEAD_TAG[30:])
    assert log.take(settle_s=0.01) == {"HEAD manifests": 1}
    assert log.take(settle_s=0.01) == {}
