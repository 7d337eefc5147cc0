"""The credential files and folders environment variables name, which no build context may send."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from graph.change.credentials import NamedCredential
from graph.model.checks import CREDENTIAL_FILES

GCLOUD = "a Google Cloud credential"
NPM_USER = "npm's user configuration, which holds registry tokens (.npmrc)"
NAMED_FILES = {
    "GOOGLE_APPLICATION_CREDENTIALS": GCLOUD,
    "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": GCLOUD,
    "AWS_SHARED_CREDENTIALS_FILE": CREDENTIAL_FILES[(".aws", "credentials")],
    "KUBECONFIG": CREDENTIAL_FILES[(".kube", "config")],
    "NETRC": CREDENTIAL_FILES[("", ".netrc")],
    "REGISTRY_AUTH_FILE": "registry logins of podman, buildah and skopeo (auth.json)",
    "AWS_CONFIG_FILE": "an AWS configuration, which may hold access keys",
    # CI writes tokens with `git config --global` (url.<base>.insteadOf, http.extraHeader)
    "GIT_CONFIG_GLOBAL": "git's global configuration, which may hold tokens (url.<base>.insteadOf, "
                         "http.extraHeader)",
    "NPM_CONFIG_USERCONFIG": NPM_USER,  # actions/setup-node points it at the .npmrc it writes
    "npm_config_userconfig": NPM_USER,  # npm reads its variables in either case
    # a private index is set up as `index-url = https://user:token@host/simple`
    "PIP_CONFIG_FILE": "pip's configuration, which may hold a private index's token (index-url)",
    "HELM_REGISTRY_CONFIG": "helm's registry logins (`helm registry login`)",
    "SOPS_AGE_KEY_FILE": "an age private key, which decrypts sops files",
}
# A tool's folder: what it holds and its credential files (glob patterns; a folder: all its files).
NAMED_FOLDERS = {
    # contexts/tls/<id>/: the TLS client keys of docker's contexts; buildx/certs/: the registry keypairs
    # buildx copies from a builder's buildkitd.toml (buildx keeps its folder in DOCKER_CONFIG)
    "DOCKER_CONFIG": ("docker's configuration folder, with its registry logins and TLS private keys",
                      ("config.json", "contexts/tls", "buildx/certs")),
    # buildx's own folder when set (else DOCKER_CONFIG's buildx/): certs/<registry>/ holds keypairs
    "BUILDX_CONFIG": ("buildx's configuration folder, with the registry keypairs of its builders",
                      ("certs",)),
    "CLOUDSDK_CONFIG": ("gcloud's configuration folder, with its stored logins and tokens",
                        ("credentials.db", "access_tokens.db", "application_default_credentials.json",
                         "legacy_credentials")),
    "AZURE_CONFIG_DIR": ("the Azure CLI's configuration folder, with its tokens and secrets",
                         ("msal_token_cache.*", "service_principal_entries.*", "accessTokens.json")),
    "GH_CONFIG_DIR": ("the GitHub CLI's configuration folder, with its tokens (hosts.yml)", ("hosts.yml",)),
    "DOCKER_CERT_PATH": ("docker's TLS client certificates, with their private key", ("key.pem",)),
}
LISTS = frozenset({"KUBECONFIG"})  # ':'-separated paths


def named_credentials(environ: Mapping[str, str]) -> tuple[NamedCredential, ...]:
    """The credential files and folders the environment names, absolute: no context may send them. A
    relative path is the current folder's, as for the tools reading it."""
    named = []
    for variable in (*NAMED_FILES, *NAMED_FOLDERS):
        value = environ.get(variable, "")
        what, known = NAMED_FOLDERS.get(variable) or (NAMED_FILES[variable], ())
        for path in value.split(os.pathsep) if variable in LISTS else [value]:
            if path:
                named.append(NamedCredential(variable, what, Path(os.path.abspath(path)), known))
    return tuple(named)
