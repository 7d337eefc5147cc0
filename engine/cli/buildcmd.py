"""`stackbuild build`: its options, the run the arguments ask for, its reports and summary, and its exit
code."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.build.request import CACHE_MODES
from engine.cli import ci_report, commands, signing
from engine.cli.config import pool_of
from engine.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED
from engine.cli.options import OptionError, add_secret_options, options_of, positive, secret_policy_of
from engine.run import api
from engine.run.settings import BuildSettings
from graph.change.credentials import NamedCredential

if TYPE_CHECKING:
    from engine.build.builder import BuildxBuilder
    from engine.build.pool import Pool
    from engine.state.report import RunReport
    from graph.model.secrets import SecretPolicy


def run(args: argparse.Namespace) -> int:
    """Build (or with --check-reproducible rebuild and compare) what the arguments name; the exit code."""
    from engine.build.builder import BuildxBuilder

    if args.load and args.changed_since:
        raise OptionError("--load cannot be combined with --changed-since",
                          "--load already builds only what the local image store lacks")
    _check_publication(args)
    pool = pool_of(args)  # a wrong pool is reported before the engine is asked anything
    secrets = secret_policy_of(args)
    builder = BuildxBuilder()
    builder.stall_timeout_s = args.stall_timeout
    options = options_of(args)
    if args.sign:  # fails before any build; no context may send the key into the images it signs
        key = NamedCredential("--sign", "the cosign private key",
                              Path(os.path.abspath(signing.sign_key_file(args.sign, "--sign"))))
        options = replace(options, credentials=(*options.credentials, key))
    if args.check_reproducible:
        builder.check()
        return _check_reproducible(options, builder, tuple(args.check_reproducible), secrets)
    settings = _settings_of(args, options, pool, secrets)
    if args.load:
        from engine.build.localstore import LocalStore
        from engine.run.local import build_local

        builder.check()
        report = build_local(options, builder.for_local_store(), settings, LocalStore(builder.docker))
    else:  # api.build asks the engine (builder.check) only when something is to be built
        report = api.build(options, builder, settings)
    ci_report.show_run(report)
    if args.report_dir:
        ci_report.copy_reports(report, Path(args.report_dir))
    print(commands.run_summary(report))
    if report.signal and report.status == "succeeded":
        _stopped_once_published(report, args.sign, bool(args.only))
    elif args.sign and report.status == "succeeded":
        signing.sign_run(args, report)
    if report.status == "interrupted" or report.signal:  # a calling script stops (`build && deploy`)
        return EXIT_TERMINATED if report.signal == "SIGTERM" else EXIT_INTERRUPTED
    return EXIT_OK if report.status == "succeeded" else EXIT_FAILED


def add_options(build: argparse.ArgumentParser) -> None:
    """The options of `build` and its handler."""
    _add_scope_options(build)
    _add_run_options(build)
    build.set_defaults(handler=run)


def _add_scope_options(build: argparse.ArgumentParser) -> None:
    """What `build` builds and how: parallel jobs, after a failure, full or PR mode, layer cache, smoke
    tests, the local engine's store."""
    build.add_argument("--jobs", "-j", type=positive, help="parallel builds (default 2; env STACKBUILD_JOBS)")
    mode = build.add_mutually_exclusive_group()
    mode.add_argument("--keep-going", action="store_true",
                      help="after a failure, still build every node that does not depend on it")
    mode.add_argument("--fail-fast", dest="keep_going", action="store_false",
                      help="start nothing new after the first failure (default)")
    build.add_argument("--full", action="store_true",
                       help="nightly: rebuild every node, pull bases, no layer cache import")
    build.add_argument("--changed-since", metavar="REF", help="PR mode: only what changed since REF")
    build.add_argument("--cache", choices=CACHE_MODES,
                       help="layer cache: a registry ref per node (registry: mode=max, the default; "
                            "registry-min: mode=min), inline in the pushed image, a local folder, or none")
    build.add_argument("--cache-dir", help="folder for --cache local (default STATE/cache)")
    build.add_argument("--no-test", action="store_true", help="skip the smoke tests")
    build.add_argument("--load", action="store_true",
                       help="build into the local engine's image store, with no registry at all")


def _add_run_options(build: argparse.ArgumentParser) -> None:
    """What else a `build` run does: adopt tags, stop a stalled build, use a builder pool, copy the reports,
    check reproducibility, build a CI shard, hold back human tags or secrets, sign."""
    build.add_argument("--adopt", action="store_true",
                       help="take over human tags that point at images this project never built "
                            "(refused otherwise)")
    build.add_argument("--stall-timeout", metavar="SECONDS", type=positive, default=300,
                       help="stop a build that prints nothing this long; a stalled push or pull is "
                            "retried (default 300)")
    build.add_argument("--builders", metavar="FILE",
                       help="builder pool (YAML, `builders:` per platform); default: [tool.stackbuild."
                            "builders] if set, else the current builder")
    build.add_argument("--report-dir", metavar="DIR",
                       help="also copy report.json, junit.xml, summary.md, log.jsonl and lock.json here")
    build.add_argument("--check-reproducible", nargs="+", metavar="NODE",
                       help="rebuild these published nodes without cache (under a sbrepro- tag) and "
                            "compare their per-platform digests; exit 1 naming the first difference")
    build.add_argument("--only", action="append", default=[], metavar="NODE",
                       help="a CI shard: build exactly these nodes (their parents must be in the registry) "
                            "and move no human tag; repeatable")
    build.add_argument("--no-publish", action="store_true",
                       help="push and content-tag what is built, move no human tag (a pull request's check)")
    add_secret_options(build, "pass no stack secret to any build and move no human tag (untrusted stack "
                       "files, e.g. a fork's PR)")
    build.add_argument("--sign", metavar="KEY", help="after promotion, sign every published image by "
                       "digest with this cosign key (password from COSIGN_PASSWORD)")


def _settings_of(args: argparse.Namespace, options: api.Options, pool: Pool | None,
                 secrets: SecretPolicy) -> BuildSettings:
    """The build settings the arguments ask for."""
    return BuildSettings(jobs=args.jobs, keep_going=args.keep_going, full=args.full,
                         changed_since=args.changed_since or "", cache=args.cache,
                         cache_dir=Path(args.cache_dir or options.state / "cache").resolve(),
                         test=not args.no_test, adopt=args.adopt, pool=pool, secrets=secrets,
                         publish=not args.no_publish)


def _check_publication(args: argparse.Namespace) -> None:
    """Refuse what publishes nothing (--no-publish, --no-secrets, --only, --platform, --load: no human tag
    in the registry moves) beside what needs a publication."""
    not_publishing = next((flag for flag, given in (
        ("--no-publish", args.no_publish), ("--no-secrets", args.no_secrets), ("--only", args.only),
        ("--platform", args.platform), ("--load", args.load)) if given), "")
    if not_publishing and args.sign:
        raise OptionError(f"--sign cannot be combined with {not_publishing}: no human tag moves in the "
                          "registry, nothing is published to sign",
                          "sign what is published: stackbuild sign --key KEY")
    if args.no_publish and args.load:
        raise OptionError("--no-publish cannot be combined with --load",
                          "--load only sets tags in the local image store; drop one of them")
    if args.check_reproducible:
        _check_reproducible_alone(args)


def _check_reproducible_alone(args: argparse.Namespace) -> None:
    """Refuse the build options a reproducibility check would ignore (it rebuilds the named published nodes
    one by one, without cache or tests, under sbrepro- tags, and moves, signs, loads and copies nothing)."""
    ignored = {"--no-publish": args.no_publish, "--load": args.load, "--sign": args.sign,
               "--report-dir": args.report_dir, "--full": args.full, "--changed-since": args.changed_since,
               "--cache-dir": args.cache_dir, "--adopt": args.adopt, "--builders": args.builders,
               "--only": args.only, "--keep-going": args.keep_going, "--no-test": args.no_test,
               "--platform": args.platform}  # platforms are inputs: fewer name another, unpublished image
    # not here: --jobs, --cache (also set by config), --stall-timeout (the check's builds stop on a stall)
    given = [flag for flag, value in ignored.items() if value]
    if given:
        raise OptionError(f"{given[0]} cannot be combined with --check-reproducible: a reproducibility "
                          "check rebuilds the named published nodes one by one without cache or smoke "
                          "tests under sbrepro- tags, and moves, signs, loads and reports nothing else",
                          f"drop {' and '.join(given)}, or run the check on its own")


def _stopped_once_published(report: RunReport, sign: str | None, shard: bool) -> None:
    """Say that the signal took effect once every tag moved and was recorded, and that nothing was signed."""
    done = ("node of the shard was built and recorded (report; a shard moves no human tag)" if shard else
            "human tag was set locally and recorded (loaded.json, report)" if report.mode == "local" else
            "human tag had moved and was recorded (lockfile, report)")
    print(f"stopped by {report.signal} once every {done}: nothing is half-done", file=sys.stderr)
    if sign:
        print(f"not signed: stackbuild sign --key {sign} signs the published images", file=sys.stderr)


def _check_reproducible(options: api.Options, builder: BuildxBuilder, names: tuple[str, ...],
                        secrets: SecretPolicy) -> int:
    from engine.run import reproduce

    results = reproduce.check_reproducible(options, builder, names, secrets=secrets)
    print("\n".join(reproduce.summary(results)))
    return EXIT_OK if all(result.reproducible for result in results) else EXIT_FAILED
