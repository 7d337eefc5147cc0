"""`stackbuild prune`: list (dry run) or delete the tags stackbuild left in the stacks' repositories."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from engine.cli.options import options_of
from engine.errors import EngineError
from engine.registry.client import RegistryClient
from engine.run.prune import BACK, DELETED, GONE, PrunePlan, RepositoryPlan, Retention, delete, plan_prune
from engine.run.retention import Deletion, Unconfirmed, Verdict
from engine.state.folder import run_lock

BLOBS = ("the registry frees the space of deleted manifests' blobs only in its own garbage collection "
         "(distribution: `registry garbage-collect CONFIG`, with the registry stopped or read-only)")
NOT_DELETED, WOULD_DELETE = "not_deleted", "would_delete"
_SAID = {DELETED: "deleted", GONE: "already gone", BACK: "kept"}  # how a deletion's status is printed


def run(args: argparse.Namespace) -> int:
    """Print what prune keeps and deletes per repository; with --yes, delete it."""
    options = options_of(args)
    registry = RegistryClient()
    retention = Retention(runs=args.keep_runs, days=args.keep_days)
    if not args.yes:
        plan = plan_prune(options, registry, retention)
        if args.format == "json":
            print(plan_json(plan, dry_run=True))
            return 0
        print(plan_text(plan, verbose=not args.quiet))
        doomed = sum(len(repository.deletions) for repository in plan.repositories)
        print(f"dry run: nothing deleted; `stackbuild prune --yes` deletes {doomed} manifest(s)" if doomed
              else "nothing to delete")
        return 0
    with run_lock(options.state):  # no build of this state folder pushes while its tags are deleted
        return _delete(registry, plan_prune(options, registry, retention), args.format == "json",
                       not args.quiet)


def _delete(registry: RegistryClient, plan: PrunePlan, as_json: bool, verbose: bool) -> int:
    """Delete what plan says, printing it as a table as it goes, or as one JSON document at the end."""
    if not as_json:
        print(plan_text(plan, verbose))
    done: dict[tuple[str, str], str] = {}
    again: dict[str, RepositoryPlan] = {}
    try:
        count = delete(registry, plan,
                       lambda repository, deletion, status: _deleted(done, repository, deletion, status,
                                                                     as_json),
                       lambda new: _replanned(again, new, as_json, verbose))
    except (EngineError, KeyboardInterrupt):  # a failed deletion, or Ctrl-C: say what went first
        if as_json:
            print(plan_json(_carried_out(plan, again), dry_run=False, done=done, stopped=True))
        where = "the document's manifests" if as_json else "listed above"
        deleted = sum(status == DELETED for status in done.values())
        finished = f"{deleted} manifest(s) deleted before it stopped ({where})" if deleted \
            else "nothing deleted"
        print(f"prune stopped: {finished}; the rest stays", file=sys.stderr)
        raise
    if as_json:
        print(plan_json(_carried_out(plan, again), dry_run=False, done=done))
    else:
        print(_closing(count, sum(status == GONE for status in done.values()),
                       sum(status == BACK for status in done.values())))
    return 0


def _replanned(again: dict[str, RepositoryPlan], new: RepositoryPlan, as_json: bool, verbose: bool) -> None:
    """Note a repository planned again right before its deletions; in the table, show its new plan."""
    again[new.repository] = new
    if not as_json:
        print(f"{new.repository}: its tags changed since they were listed; planned again:", flush=True)
        lines = _repository_lines(new, verbose) or [f"{new.repository}: nothing to delete"]
        print("\n".join(lines), flush=True)


def _closing(deleted: int, gone: int, back: int = 0) -> str:
    """The last line of a deletion: how many manifests went, how many were gone already (404), and how
    many were kept because a subject they rely on is back."""
    if not deleted and not gone and not back:
        return "nothing to delete"
    already = f"; {gone} already gone" if gone else ""
    kept = f"; {back} kept: a subject {'it relies' if back == 1 else 'they rely'} on is in the repository " \
        "again" if back else ""
    return f"deleted {deleted} manifest(s){already}{kept}; {BLOBS}" if deleted \
        else f"nothing deleted{already}{kept}"


def _carried_out(plan: PrunePlan, again: Mapping[str, RepositoryPlan]) -> PrunePlan:
    """plan with the repositories that were planned again right before their deletions replaced."""
    return replace(plan, repositories=tuple(again.get(r.repository, r) for r in plan.repositories))


def _deleted(done: dict[tuple[str, str], str], repository: str, deletion: Deletion, status: str,
             as_json: bool) -> None:
    """Note one deletion as it happens; print it too, unless stdout is to hold only the JSON document."""
    done[(repository, deletion.digest)] = status
    if not as_json:
        back = f": {', '.join(deletion.gone)} is in the repository again" if status == BACK else ""
        print(f"{_SAID[status]:<12} {repository}@{deletion.digest} ({_what(deletion)}){back}", flush=True)


def _what(deletion: Deletion) -> str:
    """A deleted manifest's tags, whose referrer it is, or which deleted index refers to it."""
    if deletion.tags:
        return ", ".join(deletion.tags)
    return f"referrer of {deletion.referrer_of}" if deletion.referrer_of else \
        f"untagged, deleted index {deletion.child_of} refers to it"


def plan_json(plan: PrunePlan, dry_run: bool, done: Mapping[tuple[str, str], str] | None = None,
              stopped: bool = False) -> str:
    """The plan, and what became of each manifest (done: by repository and digest), as one JSON document."""
    repositories = [_repository_document(r, dry_run, done or {}) for r in plan.repositories]
    verdicts = [v for r in plan.repositories for v in r.verdicts]
    summary = {"repositories": len(repositories), "tags_kept": sum(not v.delete for v in verdicts),
               "tags_to_delete": sum(v.delete for v in verdicts),
               "manifests_to_delete": sum(len(r.deletions) for r in plan.repositories),
               "manifests_deleted": sum(status == DELETED for status in (done or {}).values()),
               "manifests_already_gone": sum(status == GONE for status in (done or {}).values()),
               "manifests_kept_subject_back": sum(status == BACK for status in (done or {}).values()),
               "referrers_left": sum(len(r.left) for r in plan.repositories)}
    return json.dumps({"dry_run": dry_run, "stopped": stopped,
                       "kept_lockfiles": [str(path) for path in plan.lockfiles],
                       "repositories": repositories, "summary": summary}, indent=2)


def _repository_document(repository: RepositoryPlan, dry_run: bool,
                         done: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    """One repository: its tags kept and deleted, each with why, and what became of its manifests."""
    verdicts = sorted(repository.verdicts, key=lambda v: v.tag)
    name = repository.repository
    manifests = [{"digest": d.digest, "tags": list(d.tags), "referrer_of": d.referrer_of or None,
                  "child_of": d.child_of or None, "relies_on_gone": list(d.gone),
                  "status": WOULD_DELETE if dry_run else done.get((name, d.digest), NOT_DELETED)}
                 for d in repository.deletions]
    left = [{"digest": u.digest, "listed_by": u.listed_by, "subject": u.subject or None, "there": u.there}
            for u in repository.left]
    return {"repository": name, "keep": [_tag(v) for v in verdicts if not v.delete],
            "delete": [_tag(v) for v in verdicts if v.delete], "manifests": manifests, "left": left}


def _tag(verdict: Verdict) -> dict[str, Any]:
    """One tag's verdict (kind null: a tag of no shape stackbuild or cosign writes)."""
    return {"tag": verdict.tag, "digest": verdict.digest, "kind": verdict.kind or None, "why": verdict.why,
            "reason": verdict.reason}


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
    lines += [f"  delete {'(untagged)':<{width}} {d.digest[:19]}…  {_untagged(d)}"
              for d in repository.deletions if not d.tags]
    lines += [f"  leave  {'(untagged)':<{width}} {u.digest[:19]}…  {_left(u)}" for u in repository.left]
    return lines


def _untagged(deletion: Deletion) -> str:
    """Why an untagged manifest goes, in the table."""
    if deletion.referrer_of:
        return f"referrer of {deletion.referrer_of[:19]}…, whose referrers tag goes"
    return f"only deleted indexes refer to it ({deletion.child_of[:19]}…)"


def _left(left: Unconfirmed) -> str:
    """Why an artifact a referrers tag that goes lists stays, in the table."""
    names = f"names {left.subject[:19]}… as its subject" if left.subject \
        else "names no subject" if left.there else "is not in the repository"
    return f"listed by {left.listed_by[:19]}…, but {names}: no referrer of it, left"
