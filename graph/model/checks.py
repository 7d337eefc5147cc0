"""Pure checks of single values: names, tags, platforms, build args, paths, registries and git refs."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
NAME_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
IMAGE_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
REGISTRY_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]{1,5})?)(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
ARG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_ID_RE = re.compile(r"[A-Za-z0-9_.-]+")
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TARGET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PLATFORMS = (
    "linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/ppc64le",
    "linux/s390x", "linux/riscv64", "linux/386",
)


def tag_problem(tag: str) -> str:
    """Why tag is not a valid OCI tag, or ''."""
    if TAG_RE.fullmatch(tag):
        return ""
    return f"tag {tag!r} is not a valid OCI tag (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"


def name_problem(name: str) -> str:
    """Why name is not a valid node name, or ''."""
    if NAME_RE.fullmatch(name):
        return ""
    return f"name {name!r} must be lower-case letters and digits separated by '.', '_' or '-'"


def image_problem(image: str) -> str:
    """Why image is not a valid OCI repository name, or ''."""
    if IMAGE_RE.fullmatch(image) and len(image) <= 255:
        return ""
    return f"image {image!r} is not a valid repository name (lower-case, digits, '.', '_', '-', '/')"


def registry_problem(registry: str) -> str:
    """Why registry is not a valid `host[:port][/path]` prefix, or ''."""
    if REGISTRY_RE.fullmatch(registry):
        return ""
    return f"registry {registry!r} must look like host[:port][/path] (e.g. localhost:5000/demo)"


def platform_problem(platform: str) -> str:
    """Why platform is not supported, or ''."""
    if platform in PLATFORMS:
        return ""
    return f"platform {platform!r} is not supported (known: {', '.join(PLATFORMS)})"


def arg_problem(key: str, value: str) -> str:
    """Why a build arg is unsafe or malformed, or ''."""
    if not ARG_RE.fullmatch(key):
        return f"build arg name {key!r} must be a letter or '_' followed by letters, digits or '_'"
    if "\n" in value or "\0" in value:
        return f"build arg {key} must be a single line"
    return ""


def inside(root: Path, relative: str) -> Path | None:
    """The resolved path of relative under root, or None if it escapes root."""
    if "," in relative or "\0" in relative or "\n" in relative:
        return None
    path = (root / relative).resolve()
    return path if path == root.resolve() or root.resolve() in path.parents else None


VALUE_RE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")
GENERATED_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def git_metadata(parts: Sequence[str]) -> bool:
    """Whether a path (its parts) is in git's own files, `.git` in any case (a case-insensitive file
    system serves `.GIT/config` too): CI keeps credentials there (actions/checkout's token)."""
    return any(part.lower() == ".git" for part in parts)


# Credential files CI steps leave in the work tree, by (folder, name) in lower case ("" for any folder).
# Only names no image needs: broad patterns (*.pem, *.key) name certificates images legitimately carry.
CREDENTIAL_FILES = {
    (".docker", "config.json"): "docker's stored registry logins (`docker login`)",
    ("", ".netrc"): "stored logins for curl, git and pip (.netrc)",
    ("", ".git-credentials"): "git's stored logins (`credential.helper store`)",
    (".aws", "credentials"): "AWS access keys",
    ("", ".pypirc"): "PyPI upload tokens (.pypirc)",
    (".kube", "config"): "a Kubernetes cluster login (kubeconfig)",
    **{("", key): "an SSH private key" for key in ("id_rsa", "id_ecdsa", "id_ed25519", "id_dsa")},
}
GHA_CREDS = "a Google Cloud credential (google-github-actions/auth's key or token)"


def credential_file(folder: str, name: str) -> str:
    """What the file name in folder (the name of its folder) holds if a CI step's credential file, or ''.
    Any case, as for `.git`: a case-insensitive file system serves `.NETRC` to whoever opens `.netrc`."""
    folder, name = folder.lower(), name.lower()
    if name.startswith("gha-creds-") and name.endswith(".json"):
        return GHA_CREDS
    return CREDENTIAL_FILES.get((folder, name)) or CREDENTIAL_FILES.get(("", name), "")


def value_problem(value: str) -> str:
    """Why a matrix or attribute value cannot go into tags and names, or ''."""
    if VALUE_RE.fullmatch(value):
        return ""
    return f"value {value!r} may use only letters, digits, '_', '.' and '-' (not first)"



# --- values from flags and the environment ------------------------------------------------------

# Unicode "format" characters that reorder or hide text on a terminal (Trojan Source, CVE-2021-42574).
BIDI_CHARS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = frozenset(BIDI_CHARS)
MAX_REGISTRY_LENGTH = 200  # leaves room for the image name and tag within a 255-character reference


def control_problem(value: str) -> str:
    """Why value must not reach a terminal, buildx or a file name (a control or bidi character), or ''."""
    for char in value:
        if unicodedata.category(char) == "Cc" or char in _BIDI:
            return f"{value!r} contains the control character U+{ord(char):04X}"
    return ""


def registry_prefix_problem(registry: str) -> str:
    """Why registry is not a usable `host[:port][/path]` prefix, naming the first rule it breaks, or ''."""
    if problem := control_problem(registry):
        return problem
    if "," in registry:
        return f"registry {registry!r} contains ',' (one registry prefix only; buildx splits on ',')"
    if any(char.isspace() for char in registry):
        return f"registry {registry!r} contains white space"
    if "://" in registry:
        return f"registry {registry!r} has a scheme: give host[:port][/path] without {registry.split('://')[0]}://"
    if len(registry) > MAX_REGISTRY_LENGTH:
        return f"registry prefix is {len(registry)} characters long (at most {MAX_REGISTRY_LENGTH})"
    if registry.partition("/")[2] != registry.partition("/")[2].lower():
        return f"registry {registry!r}: the path after the host must be lower case"
    return registry_problem(registry)


def git_ref_problem(ref: str) -> str:
    """Why ref cannot be a git revision (an option in disguise, control characters, empty), or ''."""
    if problem := control_problem(ref):
        return problem
    if not ref:
        return "the git ref is empty"
    if ref.startswith("-"):
        return f"git ref {ref!r} starts with '-' (git would read it as an option)"
    if len(ref) > 255 or any(char.isspace() for char in ref):
        return f"git ref {ref!r} is not a commit, branch or tag name"
    return ""
