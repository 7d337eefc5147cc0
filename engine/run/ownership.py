"""Never clobber a foreign tag: a human tag pointing at an image this project never built stays put.

An image is ours when its digest is in a lockfile of the state folder or in the build history, or
when its config carries our stack label (an older build, e.g. from another state folder). Anything
else already at a human tag is foreign: promotion leaves it alone unless the run adopts it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import structlog

from engine.errors import EngineError
from engine.registry.manifest import config_labels
from engine.state.history import History
from engine.state.lockfile import LockEntry, LockfileError, read_lockfile

log = structlog.get_logger()
STACK_LABEL = "org.stackbuild.stack"
LOCKFILE = "lock.json"


@runtime_checkable
class ConfigReader(Protocol):
    """A registry that can read an image's config (RegistryClient; fakes in tests)."""

    def image_config(self, reference: str, platform: str = "linux/amd64") -> dict[str, Any] | None:
        """The image config of one platform of reference, or None."""


@dataclass(frozen=True)
class ForeignTag:
    """A human tag that points at an image this project never built."""

    node: str
    ref: str
    digest: str

    def message(self) -> str:
        """What happened and how to take the tag over deliberately."""
        return (f"node {self.node}: tag {self.ref} points to {self.digest}, an image this project never "
                "built (in no lockfile, not in the history, without our labels); it was not moved. "
                "To take it over: build again with --adopt, or set 'adopt: true' in the stack file")


class ForeignTagsRefused(EngineError):
    """A promotion left tags alone because they point at images this project never built."""

    exit_code = 1


@dataclass
class TagGuard:
    """Decides, tag by tag during promotion, whether moving a tag would clobber a foreign image."""

    known: Container[str]  # digests this project built (a set, or KnownDigests read on first use)
    stacks: dict[str, str]  # node → stack it belongs to (its images carry that stack label)
    adopting: Callable[[str], bool]  # node → whether its stack (or the run) adopts foreign tags
    reader: ConfigReader | None = None
    refused: list[ForeignTag] = field(default_factory=list)
    # events kept back until the tags move (release_events): the log method, the event, its fields
    held: list[tuple[Callable[..., Any], str, dict[str, str]]] | None = None

    def refuses(self, entry: LockEntry, current: str | None) -> bool:
        """True (and the tag recorded as refused) when entry's tag points at a foreign image now."""
        if current is None or current == entry.digest or current in self.known:
            return False
        if self._labelled_ours(entry, current):
            return False
        if self.adopting(entry.node):
            self._event(log.warning, "foreign_tag_adopted", node=entry.node, ref=entry.ref,
                        foreign_digest=current)
            return False
        foreign = ForeignTag(entry.node, entry.ref, current)
        self.refused.append(foreign)
        self._event(log.error, "foreign_tag_refused", node=entry.node, ref=entry.ref, foreign_digest=current,
                    error=foreign.message())
        return True

    def release_events(self) -> None:
        """Log the events held back (a rollback holds them until it is sure to move its tags)."""
        for emit, event, fields in self.held or ():
            emit(event, **fields)
        self.held = None

    def _event(self, emit: Callable[..., Any], event: str, **fields: str) -> None:
        """emit(event, **fields) now, or once release_events is called when events are held."""
        if self.held is None:
            emit(event, **fields)
        else:
            self.held.append((emit, event, fields))

    def _labelled_ours(self, entry: LockEntry, current: str) -> bool:
        if self.reader is None:
            return False
        try:
            config = self.reader.image_config(f"{entry.repository}@{current}")
        except EngineError:
            return False  # unreadable: not shown to be ours
        value = config_labels(config).get(STACK_LABEL, "")
        stack = self.stacks.get(entry.node, "")  # unknown (a lockfile's node): any stack of ours
        return bool(value) and (not stack or value == stack)


def known_digests(state: Path, history: History | None) -> set[str]:
    """Every image digest this project built or published: the state folder's lockfiles, the history."""
    digests = set(history.built_digests()) if history else set()
    for path in _lockfiles(state):
        try:
            entries = read_lockfile(path, follow_symlinks=False)
        except LockfileError:
            continue  # an unreadable lockfile vouches for nothing
        digests.update(_digests_of(entries))
    return digests


class KnownDigests:
    """known_digests(state, history), read on the first question only: a run that moves no tag past
    another digest (a no-op) never reads the lockfile of every past run."""

    def __init__(self, state: Path, history: History | None) -> None:
        self.state, self.history = state, history
        self._digests: set[str] | None = None

    def __contains__(self, digest: object) -> bool:
        if self._digests is None:
            self._digests = known_digests(self.state, self.history)
        return digest in self._digests


def _lockfiles(state: Path) -> list[Path]:
    latest = state / f"latest.{LOCKFILE}"
    runs = sorted((state / "runs").glob(f"*/{LOCKFILE}")) if (state / "runs").is_dir() else []
    return [latest, *runs] if latest.is_file() else runs


def _digests_of(entries: Iterable[LockEntry]) -> set[str]:
    return {entry.digest for entry in entries} | {d for entry in entries for d in entry.platforms.values()}
