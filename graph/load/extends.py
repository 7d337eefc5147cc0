"""`extends`: each definition's data with the fields of the definition it extends filled in (linear)."""

from __future__ import annotations

from typing import Any

from graph.errors import StackError
from graph.load.limits import MAX_EXTENDS
from graph.load.yamldoc import Path, YamlDoc


def extended_definitions(doc: YamlDoc, nodes: dict[Any, Any]) -> dict[str, Any]:
    """Definition name → its data, `extends` resolved; each chain is walked once."""
    keys: dict[str, Any] = {}
    for key in nodes:
        name = str(key)
        if name in keys:
            raise StackError(f"duplicate node name '{name}'", doc.at("nodes", name),
                             "each node name may appear once (1 and '1' are the same name)")
        keys[name] = key
    resolved: dict[str, Any] = {}
    depth: dict[str, int] = {}
    for name in keys:
        if name not in resolved:
            _resolve(doc, nodes, keys, name, resolved, depth)
    return resolved


def _resolve(doc: YamlDoc, nodes: dict[Any, Any], keys: dict[str, Any], name: str,
             resolved: dict[str, Any], depth: dict[str, int]) -> None:
    """Resolve name's chain: follow `extends` to a resolved or plain definition, then fill back."""
    chain = [name]
    while chain[-1] not in resolved and (base := _base_of(nodes[keys[chain[-1]]])) is not None:
        where = doc.at("nodes", chain[-1], "extends")
        if len(chain) > MAX_EXTENDS:
            raise _too_long(doc, chain[-1])
        if base in chain:
            raise StackError(f"'extends' loops: {' -> '.join((*chain, base))}", where, "remove one 'extends'")
        if base not in keys:
            raise StackError(f"node '{chain[-1]}' extends unknown node '{base}'", where,
                             f"known: {', '.join(sorted(keys))}")
        chain.append(base)
    for current in reversed(chain):
        if current in resolved:
            continue
        data = nodes[keys[current]]
        base = _base_of(data)
        depth[current] = 1 + (depth[base] if base is not None else 0)
        if depth[current] > MAX_EXTENDS:
            raise _too_long(doc, current)
        resolved[current] = data if base is None else _merged(doc, current, base, resolved[base], data)


def _merged(doc: YamlDoc, name: str, base: str, inherited: Any, data: Any) -> Any:
    """data with the fields it lacks taken from its base's (resolved) data."""
    if not isinstance(inherited, dict) or not isinstance(data, dict):
        return data
    for key, value in inherited.items():
        if key not in data:
            _copy_spelling(doc, ("nodes", base, str(key)), ("nodes", name, str(key)), value)
    return {**{key: value for key, value in inherited.items() if key != "extends"}, **data}


def _copy_spelling(doc: YamlDoc, source: Path, target: Path, value: Any) -> None:
    """Give an inherited field the source's spellings (so `3.10` stays `3.10`, not 3.1); errors stay here."""
    pending: list[tuple[Path, Any]] = [((), value)]
    while pending:
        sub, item = pending.pop()
        if (*source, *sub) in doc.raw:
            doc.raw.setdefault((*target, *sub), doc.raw[(*source, *sub)])
        if isinstance(item, dict):
            pending += [((*sub, str(key)), child) for key, child in item.items()]
        elif isinstance(item, list):
            pending += [((*sub, index), child) for index, child in enumerate(item)]


def _too_long(doc: YamlDoc, name: str) -> StackError:
    return StackError(f"'extends' chain of node '{name}' is longer than {MAX_EXTENDS} definitions",
                      doc.at("nodes", name, "extends"), "let nodes extend a common base instead")


def _base_of(data: Any) -> str | None:
    """The name data extends, or None."""
    if not isinstance(data, dict) or "extends" not in data:
        return None
    base = data["extends"]
    return base if isinstance(base, str) else str(base) if isinstance(base, int | float) else repr(base)[:60]
