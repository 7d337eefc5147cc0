"""The `-dev` variant of each built node: built from the stack's dev rule on top of the node it develops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from graph.errors import StackError
from graph.expand.tagging import dev_tag
from graph.expand.template import render
from graph.model import checks
from graph.model.spec import DevRule, Node


def dev_nodes(rule: DevRule, conventions: Mapping[str, str], nodes: list[Node]) -> list[Node]:
    """The -dev sibling of every built node whose definition is not excepted (conventions: by definition)."""
    derived = []
    excepted = set(rule.excepted)
    for node in nodes:
        if node.external or node.definition in excepted:
            continue
        convention = conventions.get(node.definition, "")
        attrs = {**dict(node.attrs), "scope": "develop"}
        tag = (dev_tag(convention, node.kind, node.tag, dict(node.attrs), rule.location) if convention
               else node.tag + rule.suffix)
        problem = checks.tag_problem(tag)
        if problem:
            raise StackError(problem, node.location, "shorten the node's tag")
        derived.append(replace(
            node, name=node.name + rule.suffix, parent=node.name, dockerfile=rule.dockerfile,
            context=rule.context, tag=tag, target=rule.target,
            args=tuple((key, render(value, attrs, rule.location)) for key, value in rule.args),
            test=tuple(render(item, attrs, rule.location) for item in rule.test) or node.test,
            secrets=rule.secrets, variant="dev", attrs=tuple(sorted(attrs.items())), location=rule.location,
        ))
    return derived
