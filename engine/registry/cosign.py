"""The only door to cosign: sign and verify images by digest with a user's key, offline.

Offline means no transparency log (Rekor) and no other network service: signatures are stored in
the image's own registry and checked against the public key alone. Plain-HTTP registries (loopback
or configured insecure) are allowed explicitly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import EngineError
from engine.registry.endpoints import endpoint_for
from engine.registry.names import parse_reference

TIMEOUT_S = 120.0
STDERR_TAIL = 2000
COSIGN_ENV = ("COSIGN_PASSWORD",)  # the private key's password, read by cosign itself, never logged
PASSED_ENV = ("PATH", "HOME", "DOCKER_CONFIG", "SSL_CERT_FILE", "SSL_CERT_DIR", "TMPDIR")


class CosignError(EngineError):
    """cosign failed or is missing; carries the command (never a key's content), exit code and stderr."""

    def __init__(self, message: str, hint: str = "", command: Sequence[str] = (),
                 returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message, hint)
        self.command, self.returncode, self.stderr = list(command), returncode, stderr


@dataclass(frozen=True)
class Outcome:
    """What one cosign call said: ok, and its last error line when not."""

    ok: bool
    detail: str
    command: tuple[str, ...] = ()
    returncode: int = 0
    stderr: str = ""


def digest_reference(reference: str) -> bool:
    """Whether reference pins a digest (host/repository@sha256:...)."""
    return bool(parse_reference(reference).digest)


def registry_flags(reference: str) -> list[str]:
    """cosign's flags for reaching the reference's registry: plain HTTP for loopback or insecure hosts."""
    plain = endpoint_for(parse_reference(reference).api_host).scheme == "http"
    return ["--allow-insecure-registry", "--allow-http-registry"] if plain else []


def sign_argv(reference: str, key: Path) -> list[str]:
    """cosign sign of one image by digest with a private key, no transparency log upload."""
    return ["sign", "--key", str(key), "--tlog-upload=false", "--yes", *registry_flags(reference), reference]


def verify_argv(reference: str, public_key: Path) -> list[str]:
    """cosign verify of one image by digest against a public key, the transparency log not asked."""
    return ["verify", "--key", str(public_key), "--insecure-ignore-tlog=true", "--output", "json",
            *registry_flags(reference), reference]


class Cosign:
    """Runs the cosign program (argument lists, never a shell) with the user's COSIGN_* variables."""

    def __init__(self, program: str = "cosign", environ: Mapping[str, str] | None = None) -> None:
        self.program = program
        self.environ = dict(os.environ if environ is None else environ)

    def sign(self, reference: str, key: Path) -> None:
        """Sign reference (which must pin a digest) with key; CosignError when cosign refuses."""
        _require_digest(reference)
        outcome = self._run(sign_argv(reference, key))
        if not outcome.ok:
            raise CosignError(f"cosign could not sign {reference}: {outcome.detail}",
                              "check --key and COSIGN_PASSWORD, and that the registry is reachable",
                              outcome.command, outcome.returncode, outcome.stderr)

    def verify(self, reference: str, public_key: Path) -> Outcome:
        """Whether reference (pinned by digest) carries a signature valid for public_key."""
        _require_digest(reference)
        return self._run(verify_argv(reference, public_key))

    def _run(self, arguments: list[str]) -> Outcome:
        program = shutil.which(self.program)
        if program is None:
            raise CosignError(f"{self.program} is not installed",
                              "run `make setup` (installs Debian's cosign)")
        argv = [program, *arguments]
        env = {key: value for key, value in self.environ.items() if key in COSIGN_ENV + PASSED_ENV}
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, env=env,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise CosignError(f"cosign did not finish within {TIMEOUT_S:g} s", "is the registry reachable?",
                              argv) from None
        detail = "" if done.returncode == 0 else last_error(done.stderr) or f"exit code {done.returncode}"
        return Outcome(done.returncode == 0, detail, tuple(argv), done.returncode, done.stderr[-STDERR_TAIL:])


def last_error(stderr: str) -> str:
    """The line of cosign's stderr that says what went wrong (its 'Error:' line, else the last line)."""
    lines = [line.strip() for line in stderr[-STDERR_TAIL:].splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines or [""])[-1].removeprefix("Error: ")


def _require_digest(reference: str) -> None:
    if not digest_reference(reference):
        raise CosignError(f"{reference} is not pinned by digest", "sign and verify images by digest only")
