"""`stackbuild check`: check the selected nodes' published images against their contracts."""

from __future__ import annotations

import argparse

from engine.cli.options import options_of
from engine.registry.client import RegistryClient
from engine.run import api
from engine.run.contracts import check_nodes, contract_nodes, get_contract, report


def run(args: argparse.Namespace) -> int:
    """`stackbuild check`: check the selected nodes' images against their contracts; 1 if one fails."""
    nodes = contract_nodes(api.load(options_of(args)), args.select)
    if not nodes:
        print("no selected node declares a contract (add `contract: <name>` to a node)")
        return 0
    for node in nodes:
        get_contract(node.contract)
    from engine.build.builder import BuildxBuilder  # python-on-whales is needed only to run images

    builder = BuildxBuilder()
    builder.check()
    results = check_nodes(nodes, builder, RegistryClient())
    print(report(results))
    return 0 if all(result.ok for result in results) else 1
