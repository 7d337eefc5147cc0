"""A fake registry that also holds external base images (`from:`), for the tests of base resolution."""

from __future__ import annotations

from pathlib import Path

from tests.engine.engine_fakes import FakeRegistry, sha, write_stack

ALPINE = "docker.io/library/alpine:3.20"
ALPINE_DIGEST = sha("alpine 3.20, first push")
MOVED_DIGEST = sha("alpine 3.20, pushed again under the same tag")
ON_ALPINE = f"""\
  ext: {{kind: os, from: "{ALPINE}"}}
  onext: {{kind: sdk, parent: ext, tag: "6"}}
  onext-child: {{kind: framework, parent: onext, tag: "7", dockerfile: onext/Dockerfile}}
"""


def write_stack_on_alpine(root: Path) -> Path:
    """The tiny stack (engine_fakes.write_stack) plus ext (alpine, external) → onext → onext-child."""
    folder = write_stack(root)
    with (folder / "stack.yaml").open("a", encoding="utf-8") as stack:
        stack.write(ON_ALPINE)
    (folder / "onext").mkdir()
    (folder / "onext" / "Dockerfile").write_text("FROM parent\nLABEL on=alpine\n", encoding="utf-8")
    return folder


class WithBases(FakeRegistry):
    """FakeRegistry plus base images: reference → digest, each lookup a counted HEAD (in `asked`)."""

    def __init__(self, bases: dict[str, str] | None = None) -> None:
        super().__init__()
        self.bases = {ALPINE: ALPINE_DIGEST} if bases is None else dict(bases)
        self.asked: list[str] = []

    def digest(self, reference: str) -> str | None:
        if reference not in self.bases:
            return super().digest(reference)
        with self.lock:
            self.requests["HEAD"] += 1
            self.asked.append(reference)
            return self.bases[reference]
