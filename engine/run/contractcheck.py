"""One published image checked against a contract per platform: its config's default command, its files."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from typing import Any, Protocol

from engine.errors import SmokeTestError
from engine.registry.client import Manifest, RegistryClient, split_reference
from engine.run.contractdefs import Contract, ImageResult, PlatformResult, get_contract

SHELL_PROBE = ("sh", "-c", "exit 0")
NOT_PUBLISHED = "the image is not in the registry (build and publish it first)"


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
