"""`stackbuild sign` and `stackbuild verify`, and the signing step of `build --sign`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from engine.cli.options import OptionError, options_of
from engine.registry.client import RegistryClient
from engine.registry.cosign import Cosign
from engine.run import api, supply
from engine.state.report import RunReport
from graph.model.spec import Node

KEY_HINT = "name a cosign key file (cosign generate-key-pair makes cosign.key and cosign.pub)"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser,
                targets: argparse.ArgumentParser) -> None:
    """The sign and verify commands."""
    sign = sub.add_parser("sign", parents=[common, targets],
                          help="sign every node's current image by digest with cosign (offline)")
    sign.add_argument("--key", help="cosign private key (env STACKBUILD_SIGN_KEY); its password comes "
                                    "from COSIGN_PASSWORD")
    sign.set_defaults(handler=run_sign)
    verify = sub.add_parser("verify", parents=[common, targets],
                            help="check every node's current tag: signature, provenance, SBOM")
    verify.add_argument("--key", help="cosign public key (env STACKBUILD_VERIFY_KEY)")
    verify.set_defaults(handler=run_verify)


def key_file(value: str | None, env: str, flag: str = "--key") -> Path:
    """The key path from the flag or the environment variable; OptionError when none or not a file."""
    text = value or os.environ.get(env, "")
    if not text:
        raise OptionError(f"{flag} is required (or set {env})", KEY_HINT)
    path = Path(text)
    if not path.is_file():
        raise OptionError(f"{flag}: {path} is not a file", KEY_HINT)
    return path


def sign_key_file(value: str | None, flag: str = "--key") -> Path:
    """The private key (flag or STACKBUILD_SIGN_KEY), which only its owner may read."""
    path = key_file(value, "STACKBUILD_SIGN_KEY", flag)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise OptionError(f"{flag}: the private key {path} is open to other users (mode {mode:o})",
                          f"chmod 600 {path}")
    return path


def run_sign(args: argparse.Namespace) -> int:
    """Sign each built node's current index by digest."""
    key = sign_key_file(args.key)
    nodes = supply.built_nodes(api.load(options_of(args)))
    for reference in sign_nodes(nodes, key):
        print(f"signed {reference}")
    return 0


def sign_nodes(nodes: list[Node], key: Path, pinned: Mapping[str, str] | None = None) -> list[str]:
    """Sign the nodes' indexes by digest with key: pinned ones (node → digest), else their tags' current."""
    client = RegistryClient()
    try:
        return supply.sign(nodes, client, Cosign(), key, pinned)
    finally:
        client.close()


def sign_run(args: argparse.Namespace, report: RunReport) -> None:
    """build --sign: after a successful run, sign every node it published (by its promoted digest)."""
    key = sign_key_file(args.sign, "--sign")
    graph = api.load(options_of(args))
    # PR mode: a parent only built on outside the change has a digest in the report, yet is not published
    pinned = {name: node.digest for name, node in report.nodes.items()
              if node.published and name in graph.nodes and not graph.nodes[name].external}
    # the digests this run promoted, not what the tags point to now (another run may have moved them)
    for reference in sign_nodes([graph.nodes[name] for name in pinned], key, pinned):
        print(f"signed {reference}")


def run_verify(args: argparse.Namespace) -> int:
    """Verify each built node's current tag; exit 1 when any is wrong."""
    key = key_file(args.key, "STACKBUILD_VERIFY_KEY")
    graph = api.load(options_of(args))
    client = RegistryClient()
    try:
        verdicts = supply.verify(graph, supply.built_nodes(graph), client, Cosign(), key)
    finally:
        client.close()
    for verdict in verdicts:
        if not verdict.problems:
            print(f"ok    {verdict.node:<24} {verdict.ref}@{verdict.digest}")
        for problem in verdict.problems:
            print(f"FAIL  {verdict.node:<24} {problem}")
    failed = sum(1 for verdict in verdicts if verdict.problems)
    print(f"{len(verdicts) - failed} verified, {failed} failed")
    return 1 if failed else 0
