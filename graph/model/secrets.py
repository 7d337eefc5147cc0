"""Which build secrets a run passes: the operator's policy, not the stack file, decides."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from graph.errors import StackError
from graph.model.checks import git_metadata
from graph.model.spec import Node, Secret

ALLOW_FLAG = "--secret-src-allow"
ALLOW_VARIABLE = "STACKBUILD_SECRET_DIRS"
ENV_ALLOW_FLAG = "--secret-env-allow"
ENV_ALLOW_VARIABLE = "STACKBUILD_SECRET_ENVS"


@dataclass(frozen=True)
class SecretPolicy:
    """What a run may hand to buildx `--secret`: nothing (withhold), or files inside the repository and
    below the allowed paths (each a folder or one file), and the variables named in envs (exact names)."""

    withhold: bool = False
    allowed: tuple[Path, ...] = ()
    envs: tuple[str, ...] = ()


REPOSITORY_ONLY = SecretPolicy()  # the default: `src:` files inside the repository, no `env:` secret


def source_of(secret: Secret, root: Path) -> Path:
    """The file a `src:` secret names, symlinks resolved; a relative one is read from its stack file's
    folder, like every path of a stack file (buildx is handed the resolved path)."""
    return (root / Path(secret.location.file).parent / secret.src).resolve()


def allowed_source(path: Path, root: Path, allowed: Iterable[Path]) -> bool:
    """Whether a resolved secret file lies in the repository (not in git's own files) or is (or lies below)
    an allowed path."""
    return in_repository(path, root) or any(path.is_relative_to(place.resolve()) for place in allowed)


def in_repository(path: Path, root: Path) -> bool:
    """Whether path lies in the repository's work tree: git's own files (.git, a submodule's too) do not
    count, since CI keeps credentials there (actions/checkout writes the job's token to .git/config)."""
    top = root.resolve()
    return path.is_relative_to(top) and not git_metadata(path.relative_to(top).parts)


def refusal(node: Node, secret: Secret, path: Path, root: Path) -> StackError:
    """The error for a secret file the operator did not allow: where, which file, how to allow it."""
    shown = secret.src if str(path) == secret.src else f"{secret.src} (resolved: {path})"
    inside = path.is_relative_to(root.resolve())
    place = "lies in git's own files (.git), where CI keeps credentials," if inside else \
        "lies outside the repository and"
    return StackError(
        f"node {node.name}: secret {secret.id!r} reads the host file {shown}, which {place} outside every "
        "path the operator allowed",
        secret.location,
        f"if this run may hand that file to builds, allow it with {ALLOW_FLAG} {path} (or its folder; "
        f"env {ALLOW_VARIABLE}, ':'-separated); or build with --no-secrets",
    )


def env_refusal(node: Node, secret: Secret) -> StackError:
    """The error for an `env:` secret whose variable the operator did not allow: where, which, how."""
    return StackError(
        f"node {node.name}: secret {secret.id!r} reads the environment variable {secret.env}, which the "
        "operator did not allow",
        secret.location,
        f"if this run may hand that variable to builds, allow it with {ENV_ALLOW_FLAG} {secret.env} (or env "
        f"{ENV_ALLOW_VARIABLE}, ':'-separated); or build with --no-secrets",
    )


def passed_secrets(node: Node, root: Path, policy: SecretPolicy) -> tuple[Secret, ...]:
    """The secrets a build of node gets: none when withheld, `src:` files by their resolved path (what was
    checked is what buildx reads); StackError for a file or variable the policy does not allow."""
    if policy.withhold:
        return ()
    passed = []
    for secret in node.secrets:
        if secret.env and secret.env not in policy.envs:
            raise env_refusal(node, secret)
        if secret.src:
            path = source_of(secret, root)
            if not allowed_source(path, root, policy.allowed):
                raise refusal(node, secret, path, root)
            if "," in str(path):  # buildx's --secret is comma-separated
                raise StackError(f"node {node.name}: secret {secret.id!r} resolves to {path}, whose ',' "
                                 "buildx's --secret cannot carry", secret.location,
                                 "name the file by a path without ','")
            secret = replace(secret, src=str(path))
        passed.append(secret)
    return tuple(passed)


def check_secrets(nodes: Iterable[Node], root: Path, policy: SecretPolicy) -> None:
    """StackError for the first secret file or variable of nodes the policy does not allow (before any
    build)."""
    for node in nodes:
        passed_secrets(node, root, policy)
