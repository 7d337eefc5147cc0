"""`stackbuild prune`: list (dry run) or delete the tags stackbuild left in the stacks' repositories."""

from __future__ import annotations

import argparse
import sys

from engine.cli.options import options_of
from engine.errors import EngineError
from engine.registry.client import RegistryClient
from engine.run.prune import PrunePlan, RepositoryPlan, Retention, delete, plan_prune
from engine.run.retention import Deletion
from engine.state.folder import run_lock

BLOBS = ("the registry frees the space of deleted manifests' blobs only in its own garbage collection "
         "(distribution: `registry garbage-collect CONFIG`, with the registry stopped or read-only)")


def run(args: argparse.Namespace) -> int:
    """Print what prune keeps and deletes per repository; with --yes, delete it."""
    options = options_of(args)
    registry = RegistryClient()
    retention = Retention(runs=args.keep_runs, days=args.keep_days)
    if not args.yes:
        plan = plan_prune(options, registry, retention)
        print(plan_text(plan, verbose=not args.quiet))
        doomed = sum(len(repository.deletions) for repository in plan.repositories)
        print(f"dry run: nothing deleted; `stackbuild prune --yes` deletes {doomed} manifest(s)" if doomed
              else "nothing to delete")
        return 0
    with run_lock(options.state):  # no build of this state folder pushes while its tags are deleted
        plan = plan_prune(options, registry, retention)
        print(plan_text(plan, verbose=not args.quiet))
        deleted: list[str] = []
        try:
            count = delete(registry, plan, lambda repository, deletion, there: _deleted(
                deleted, repository, deletion, there))
        except EngineError:
            done = f"{len(deleted)} manifest(s) deleted before the failure (listed above)" if deleted \
                else "nothing deleted"
            print(f"prune stopped: {done}; the rest stays", file=sys.stderr)
            raise
    print(f"deleted {count} manifest(s); {BLOBS}" if count else "nothing to delete")
    return 0


def _deleted(deleted: list[str], repository: str, deletion: Deletion, there: bool) -> None:
    """Print one deletion as it happens."""
    deleted.append(deletion.digest)
    state = "deleted" if there else "already gone"
    print(f"{state:<12} {repository}@{deletion.digest} ({', '.join(deletion.tags)})", flush=True)


def plan_text(plan: PrunePlan, verbose: bool = True) -> str:
    """Per repository, each tag with delete or keep and why (quiet: only what is deleted)."""
    lines = [f"kept lockfiles: {', '.join(str(path) for path in plan.lockfiles) or 'none'}"]
    for repository in plan.repositories:
        lines += _repository_lines(repository, verbose)
    kept = sum(1 for r in plan.repositories for v in r.verdicts if not v.delete)
    doomed = sum(1 for r in plan.repositories for v in r.verdicts if v.delete)
    manifests = sum(len(r.deletions) for r in plan.repositories)
    lines.append(f"{len(plan.repositories)} repositories: {kept} tag(s) kept, {doomed} to delete "
                 f"({manifests} manifest(s))")
    return "\n".join(lines)


def _repository_lines(repository: RepositoryPlan, verbose: bool) -> list[str]:
    """The lines of one repository (none when quiet and nothing is deleted there)."""
    shown = [v for v in repository.verdicts if verbose or v.delete]
    if not shown and not verbose:
        return []
    lines = [f"{repository.repository}:" + ("" if repository.verdicts else " no tags")]
    width = max((len(v.tag) for v in shown), default=0)  # once: a repository may hold thousands of tags
    for verdict in sorted(shown, key=lambda v: (not v.delete, v.tag)):
        action = "delete" if verdict.delete else "keep"
        lines.append(f"  {action:<6} {verdict.tag:<{width}} {verdict.digest[:19]}…  {verdict.reason}")
    return lines
