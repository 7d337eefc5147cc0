"""Image contracts: what a published image must hold and run by default, checked on each platform.

A contract is a set of file checks, each a command run in the image (through the builder's
smoke_test, so QEMU runs the foreign platforms), and an expected default command read from the image
config in the registry. `stackbuild check` checks every selected node that declares `contract:`.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import EngineError, SmokeTestError
from engine.parallel import side_by_side
from engine.registry.client import Manifest, RegistryClient, split_reference
from graph.errors import StackError
from graph.expand.dag import StackGraph
from graph.model.spec import Node

SHELL_PROBE = ("sh", "-c", "exit 0")
CHECK_THREADS = 4
NOT_PUBLISHED = "the image is not in the registry (build and publish it first)"


class ContractError(EngineError):
    """A node names a contract nobody registered."""

    exit_code = 2


class Runner(Protocol):
    """What runs a command in an image (engine.build.builder.BuildxBuilder, or a fake)."""

    def smoke_test(self, node: str, image: str, platform: str, command: Sequence[str],
                   entrypoint: str | None = None) -> str:
        """Run command in image on platform; return its output or raise SmokeTestError."""


class ImageSource(Protocol):
    """What reads manifests and image configs (engine.registry.client.RegistryClient, or a fake)."""

    def manifest(self, reference: str) -> Manifest | None:
        """The manifest or index at reference, or None."""

    def image_config(self, reference: str, platform: str = "linux/amd64") -> dict[str, Any] | None:
        """The image config of one platform of reference, or None."""


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


def _argv(entrypoint: Sequence[str], cmd: Sequence[str]) -> list[str]:
    """What the image runs by default; a shell-form `/bin/sh -c "…"` is split like a shell."""
    argv = [*entrypoint, *cmd]
    if len(argv) == 3 and posixpath.basename(argv[0]) == "sh" and argv[1] == "-c":
        try:
            return shlex.split(argv[2])
        except ValueError:  # an unclosed quote: not a command the contract names
            return argv
    return argv


def command_problems(contract: Contract, config: dict[str, Any]) -> list[str]:
    """What is wrong with the default command of an image config (its `config` object)."""
    if not contract.default_command:
        return []
    entrypoint, cmd = _strings(config.get("Entrypoint")), _strings(config.get("Cmd"))
    argv = _argv(entrypoint, cmd)
    want = list(contract.default_command)
    if argv[:1] and posixpath.basename(argv[0]) == want[0] and argv[1:] == want[1:]:
        return []
    found = (f"ENTRYPOINT {entrypoint} " if entrypoint else "") + (f"CMD {cmd}" if cmd else "no CMD")
    return [f"default command `{shlex.join(want)}` (the image has {found.strip()})"]


def _strings(value: object) -> list[str]:
    """An argv of an image config (a list of strings; anything else, as the registry sent it, one word)."""
    if not value:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def file_problems(contract: Contract, image: str, platform: str, runner: Runner, node: str) -> list[str]:
    """The file checks image fails on platform (each one command run in the image)."""
    try:
        runner.smoke_test(node, image, platform, SHELL_PROBE, entrypoint="")
    except SmokeTestError as exc:
        reason = exc.output.strip().splitlines()[-1:] or ["no output"]
        return [f"a shell to check files with: `sh -c` does not run ({reason[0][:160]})"]
    missing = []
    for check in contract.files:
        try:
            runner.smoke_test(node, image, platform, check.command, entrypoint="")
        except SmokeTestError:
            missing.append(check.requirement)
    return missing


def check_platform(contract: Contract, image: str, platform: str, runner: Runner, source: ImageSource,
                   node: str = "") -> PlatformResult:
    """What one platform of image (repository@digest) misses of contract."""
    config = (source.image_config(image, platform) or {}).get("config")
    missing = command_problems(contract, config if isinstance(config, dict) else {})
    if contract.files:  # the image's ENTRYPOINT is skipped for these checks
        missing += file_problems(contract, image, platform, runner, node or image)
    return PlatformResult(platform, tuple(missing))


def _present(manifest: Manifest, ref: str, source: ImageSource) -> tuple[str, ...]:
    """The platforms an index (or a single image manifest) holds."""
    if manifest.is_index:
        return tuple(sorted(manifest.platforms()))
    config = source.image_config(ref) or {}
    return (f"{config.get('os', 'linux')}/{config.get('architecture', 'amd64')}",)


def check_image(contract: Contract | str, ref: str, runner: Runner, source: ImageSource | None = None,
                platforms: Sequence[str] = (), node: str = "") -> ImageResult:
    """Check the published image ref against contract on each platform (its own, or those asked for)."""
    contract = contract if isinstance(contract, Contract) else get_contract(contract)
    source = source or RegistryClient()
    manifest = source.manifest(ref)
    if manifest is None:
        return ImageResult(node, ref, contract.name, problem=NOT_PUBLISHED)
    present = _present(manifest, ref, source)
    host, repository, _ = split_reference(ref)
    image = f"{host}/{repository}@{manifest.digest}"
    results = tuple(
        check_platform(contract, image, platform, runner, source, node) if platform in present
        else PlatformResult(platform, (f"the {platform} image (the index has {', '.join(present)})",))
        for platform in (platforms or present))
    return ImageResult(node, ref, contract.name, manifest.digest, results)


def contract_nodes(stack_graph: StackGraph, patterns: Iterable[str] = ()) -> list[Node]:
    """The nodes declaring a contract, of those matching any pattern (all without patterns)."""
    patterns = list(patterns)
    for pattern in patterns:
        if not any(_selected(node, [pattern]) for node in stack_graph.nodes.values()):
            raise StackError(f"no node matches {pattern!r}", hint="`stackbuild plan` lists the nodes")
    nodes = [stack_graph.nodes[name] for name in stack_graph.order]
    return [node for node in nodes if node.contract and (not patterns or _selected(node, patterns))]


def _selected(node: Node, patterns: Sequence[str]) -> bool:
    """Whether the node's name or definition matches a glob."""
    return any(fnmatch.fnmatchcase(node.name, p) or fnmatch.fnmatchcase(node.definition, p) for p in patterns)


def check_nodes(nodes: Sequence[Node], runner: Runner, source: ImageSource) -> list[ImageResult]:
    """Check the published image of every node against its contract, a few nodes at a time."""
    contracts = {node.name: get_contract(node.contract) for node in nodes}  # unknown names fail first
    return side_by_side(lambda node: check_image(contracts[node.name], node.ref, runner, source,
                                                 node.platforms, node.name), nodes, CHECK_THREADS)


def report(results: Sequence[ImageResult]) -> str:
    """The results for people: per image, per platform, what is missing."""
    lines = []
    for result in results:
        lines.append(f"{result.node or result.ref}  {result.contract}  {result.ref}")
        if result.problem:
            lines.append(f"  missing: {result.problem}")
        for platform in result.platforms:
            lines.append(f"  {platform.platform:<12} " + ("ok" if platform.ok else "missing:"))
            lines += [f"    - {item}" for item in platform.missing]
    failed = sum(1 for result in results if not result.ok)
    lines.append(f"{failed} of {len(results)} image(s) miss their contract" if failed
                 else f"all {len(results)} image(s) meet their contracts")
    return "\n".join(lines)


