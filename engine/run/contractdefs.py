"""Image contracts by name: what a published image must hold and run by default (ymir executors')."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from engine.errors import EngineError


class ContractError(EngineError):
    """A node names a contract nobody registered."""

    exit_code = 2


@dataclass(frozen=True)
class FileCheck:
    """One requirement checked by running a command in the image: exit status 0 means it is met."""

    requirement: str  # what is reported missing when the command fails
    command: tuple[str, ...]


@dataclass(frozen=True)
class Contract:
    """A named set of requirements on an image."""

    name: str
    summary: str
    files: tuple[FileCheck, ...] = ()
    default_command: tuple[str, ...] = ()  # ENTRYPOINT + CMD must run this ('' for any)


@dataclass(frozen=True)
class PlatformResult:
    """What one platform of an image misses ('' when nothing)."""

    platform: str
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the platform meets the contract."""
        return not self.missing


@dataclass(frozen=True)
class ImageResult:
    """A contract check of one image on each of its platforms."""

    node: str
    ref: str
    contract: str
    digest: str = ""
    platforms: tuple[PlatformResult, ...] = ()
    problem: str = ""  # why no platform could be checked (e.g. the image is not in the registry)

    @property
    def ok(self) -> bool:
        """Whether every platform meets the contract."""
        return not self.problem and all(result.ok for result in self.platforms)


CONTRACTS: dict[str, Contract] = {}


def register(contract: Contract) -> Contract:
    """Make contract known by its name (a later registration of the name replaces it)."""
    CONTRACTS[contract.name] = contract
    return contract


def get_contract(name: str) -> Contract:
    """The contract named name; ContractError listing the known ones otherwise."""
    if name not in CONTRACTS:
        raise ContractError(f"unknown image contract {name!r}",
                            f"known contracts: {', '.join(sorted(CONTRACTS))}")
    return CONTRACTS[name]


def _sh(script: str) -> tuple[str, ...]:
    """argv running script with sh."""
    return ("sh", "-c", script)


def _file(path: str) -> FileCheck:
    """The check that a regular file exists at path."""
    return FileCheck(path, _sh(f"test -f {shlex.quote(path)}"))


YMIR_TEMPLATES = "/img-man/*-template.yaml"
YMIR_FILES = (
    _file("/img-man/manifest.yaml"),
    FileCheck(f"a hyper-parameter template {YMIR_TEMPLATES}",
              _sh(f'for f in {YMIR_TEMPLATES}; do test -f "$f" && exit 0; done; exit 1')),
    FileCheck("an executable /usr/bin/start.sh",
              _sh("test -f /usr/bin/start.sh && test -x /usr/bin/start.sh")),
    FileCheck("bash (the default command runs it)", _sh("command -v bash")),
)
YMIR_COMMAND = ("bash", "/usr/bin/start.sh")
YMIR_TASKS = {"training": ("training",), "infer": ("infer",), "mining": ("mining",),
              "tmi": ("training", "mining", "infer")}

register(Contract("ymir-executor", "ymir executor: /img-man manifest and a hyper-parameter template, "
                  "default command `bash /usr/bin/start.sh`", YMIR_FILES, YMIR_COMMAND))
for _variant, _tasks in YMIR_TASKS.items():
    register(Contract(f"ymir-executor-{_variant}", f"ymir executor with the {'/'.join(_tasks)} template(s)",
                      YMIR_FILES + tuple(_file(f"/img-man/{task}-template.yaml") for task in _tasks),
                      YMIR_COMMAND))
