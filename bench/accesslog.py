"""Count a throwaway registry's requests from its own access log, with no proxy in the path.

A measurement of wall time alone (the 10k no-op) must not pay for a counting proxy: on two cores its
Python forwarding competes with the run it measures. distribution writes one combined-format line per
request to its stdout; take() classifies the lines added since the last take as the proxy does.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

from bench.proxy import path_kind

_REQUEST = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+"')


def count_lines(lines: list[str]) -> dict[str, int]:
    """`METHOD kind` counts of combined-format access log lines (other lines ignored)."""
    counts: Counter[str] = Counter()
    for line in lines:
        found = _REQUEST.search(line)
        if found:
            counts[f"{found.group(1)} {path_kind(found.group(2))}"] += 1
    return dict(counts)


class AccessLog:
    """The requests a registry logged to path, counted in slices."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def take(self, settle_s: float = 0.2) -> dict[str, int]:
        """The counts of the lines written since the last take (complete lines only), once the log has
        not grown for settle_s (the last requests' lines may land just after the run that made them)."""
        self._settle(settle_s)
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        complete = data[:data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return count_lines(complete.decode("utf-8", "replace").splitlines())

    def _settle(self, quiet_s: float, limit_s: float = 5.0) -> None:
        """Wait until the log's size holds still for quiet_s (at most limit_s)."""
        deadline = time.monotonic() + limit_s
        size = self.path.stat().st_size
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            size, before = self.path.stat().st_size, size
            if size == before:
                return
