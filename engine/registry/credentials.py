"""Registry credentials found the way Docker finds them: config.json, credential helpers and stores."""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RegistryError
from engine.registry.names import DOCKER_HUB, HUB_ALIASES
from engine.state.dockerconfig import docker_config_dir

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT_S = 30


@dataclass(frozen=True)
class Credentials:
    """A user name and password, or an identity (refresh) token; repr never shows the secret."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)


def config_path() -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as Docker reads it."""
    return docker_config_dir() / "config.json"


def _key_host(key: str) -> str:
    """The host of an `auths`/`credHelpers` key (`https://host/v1/` and `host` alike)."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if host in HUB_ALIASES else host


def _server_url(host: str) -> str:
    """The server URL Docker stores the credentials of host under."""
    return DOCKER_HUB_KEY if _key_host(host) == "docker.io" else host


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The Docker client config, {} when there is none."""
    path = path or config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{path}: cannot read the Docker client config: {type(exc).__name__}",
                            "fix or remove the file, then run `docker login` again") from None
    return data if isinstance(data, dict) else {}


def credentials_for(host: str, config: dict[str, Any] | None = None) -> Credentials | None:
    """Credentials for host: its credHelper, then credsStore, then `auths`; None when there are none."""
    config = read_config() if config is None else config
    wanted = _key_host(host)
    helpers = {_key_host(key): name for key, name in (config.get("credHelpers") or {}).items()}
    for helper in (helpers.get(wanted), config.get("credsStore")):
        if helper:
            found = run_helper(str(helper), _server_url(host))
            if found:
                return found
    for key, entry in (config.get("auths") or {}).items():
        if _key_host(key) == wanted and isinstance(entry, dict):
            found = _from_auths(entry, host)
            if found:
                return found
    return None


def _from_auths(entry: dict[str, Any], host: str) -> Credentials | None:
    """Credentials of one `auths` entry (`auth` is base64 of user:password)."""
    if entry.get("identitytoken"):
        return Credentials(str(entry.get("username", "")), identity_token=str(entry["identitytoken"]))
    if not entry.get("auth"):
        return None
    try:
        username, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"the Docker config entry for {host} has an unreadable `auth` value",
                            f"run `docker login {host}` again") from None
    return Credentials(username, password)


def run_helper(name: str, server_url: str) -> Credentials | None:
    """`docker-credential-<name> get`; None when the helper has nothing for server_url."""
    command = [f"docker-credential-{name}", "get"]
    try:
        result = subprocess.run(command, input=server_url, capture_output=True, text=True,
                                timeout=HELPER_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise RegistryError(f"credential helper docker-credential-{name} is not on PATH",
                            "install it, or remove it from the Docker config") from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"credential helper docker-credential-{name} did not answer in "
                            f"{HELPER_TIMEOUT_S} s", "unlock the credential store and run again") from None
    if result.returncode != 0:
        if "credentials not found" in (result.stdout + result.stderr).lower():
            return None
        raise RegistryError(f"credential helper docker-credential-{name} failed for {server_url} "
                            f"(exit code {result.returncode})", f"run `docker login {server_url}` again")
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        raise RegistryError(f"credential helper docker-credential-{name} answered with something "
                            "that is not JSON", "check the helper's version") from None
    username, secret = str(answer.get("Username", "")), str(answer.get("Secret", ""))
    if not secret:
        return None
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username, secret)
