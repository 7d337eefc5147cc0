"""`stackbuild images`: query the catalogue of built images, as a table, JSON or the best match."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from engine.cli.options import options_of
from engine.registry.catalog import gather, sources, stack_repositories
from graph.present.catalog import FILTERS, ImageRecord, best, query_of, select


def run(args: argparse.Namespace) -> int:
    """`stackbuild images`: list the matching images, or print the best one."""
    options = options_of(args)
    query = query_of(**{name: getattr(args, name, None) for name in FILTERS})
    wanted = sources(options.root, options.targets, options.registry)
    records = gather(wanted, known=stack_repositories(options.root, options.targets, options.registry))
    if args.best:
        record = best(records, query, where=", ".join(prefix for prefix, _ in wanted))
        print(json.dumps(as_json(record), indent=2) if args.format == "json" else record.ref)
        return 0
    found = select(records, query)
    print(json.dumps({"images": [as_json(r) for r in found]}, indent=2) if args.format == "json"
          else images_table(found))
    return 0 if found else 1


def as_json(record: ImageRecord) -> dict[str, Any]:
    """A record as a JSON object, its version included."""
    return {**asdict(record), "version": record.version}


def images_table(records: Sequence[ImageRecord]) -> str:
    """Records as an aligned text table."""
    if not records:
        return "no image matches"
    rows = [("LAYER", "FRAMEWORK", "SDK", "PYTHON", "OS", "ACCEL", "SCOPE", "PLATFORMS", "REF")]
    rows += [(r.layer or "-", f"{r.framework} {r.framework_version}".strip() or "-",
              f"{r.sdk} {r.sdk_version}".strip() or "-", r.python or "-", r.os or "-", r.accelerator or "-",
              r.scope or "-",
              ",".join(p.removeprefix("linux/") for p in r.platforms) or "-", r.ref) for r in records]
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]
    return "\n".join(lines) + f"\n{len(records)} image(s)"
