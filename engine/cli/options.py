"""What every command shares: argument values checked where they enter, and the Options built from them.

Every value of a flag, a positional argument or an environment variable may reach buildx, a
registry, a file name or the terminal, so each is checked once, right after parsing: no control
characters anywhere, and the rules of its kind (a registry prefix, a git ref, a buildx-safe folder).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.cli.config import fill_defaults
from engine.cli.credentialvars import named_credentials
from engine.cli.ghexpr import expression_problem, outside_expressions
from engine.errors import EngineError
from engine.run import api
from graph.load.limits import DEFAULT_MAX_NODES
from graph.model.checks import (
    ENV_RE,
    control_problem,
    git_ref_problem,
    platform_problem,
    registry_prefix_problem,
)
from graph.model.secrets import ALLOW_FLAG, ALLOW_VARIABLE, ENV_ALLOW_FLAG, ENV_ALLOW_VARIABLE, SecretPolicy
from graph.present.imagedoc import link_base_problem

POSITIONALS = {"targets": "a stack file argument", "lockfile": "the LOCKFILE argument",
               "ref1": "the REF1 argument", "ref2": "the REF2 argument", "kind": "the KIND argument"}


class OptionError(EngineError):
    """A flag, argument or environment variable has a value stackbuild refuses."""

    exit_code = 2


def checked(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> argparse.Namespace:
    """args with defaults filled in (env, then [tool.stackbuild], then built-in) and every value
    checked; OptionError (or ConfigError) for a bad one."""
    sources = fill_defaults(args, environ)
    for dest, value in vars(args).items():
        where = sources.get(dest) or POSITIONALS.get(dest) or f"--{dest.replace('_', '-')}"
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                _check(dest, item, where)
    if getattr(args, "full", False) and getattr(args, "changed_since", None):  # build and plan
        raise OptionError("--full cannot be combined with --changed-since: --full rebuilds every node, "
                          "--changed-since what a change affects", "drop one of them")
    if getattr(args, "link_base", None) and args.kind != "meta":
        raise OptionError("--link-base: only export meta writes pages with links", "drop --link-base")
    if getattr(args, "out", None):
        _check_out(args)
    if getattr(args, "cache", None) == "local":
        _check_cache_folder(args)
    if getattr(args, "report_dir", None):
        _check_folder("--report-dir", Path(args.report_dir), "build/reports")
    return args


def _check(dest: str, value: str, where: str) -> None:
    """OptionError when value breaks the general rule or the rule of its kind."""
    if dest == "registry" and "@" in value:  # user:password@host: the value is never echoed
        raise OptionError(f"{where}: the registry prefix holds credentials (user@ or user:password@), "
                          "which stackbuild never takes on its command line or in its settings",
                          "give host[:port][/path] and log in with `docker login HOST`")
    if problem := control_problem(value):
        raise OptionError(f"{where}: {problem}", "remove the control characters")
    rule = _RULES.get(dest)
    if rule is not None and (problem := rule[0](value)):
        raise OptionError(f"{where}: {problem}", rule[1])


def _no_comma(value: str) -> str:
    return f"{value!r} contains ',' (buildx reads it as a separator)" if "," in value else ""


def _not_empty(value: str) -> str:
    return "" if value else "the value is empty"


def _ci_value(value: str) -> str:
    """Not empty, and every GitHub expression in it closed and not empty."""
    return _not_empty(value) or expression_problem(value)


def _image(value: str) -> str:
    """One word, save for the spaces of a GitHub expression (`${{ vars.IMAGE }}`) in it."""
    if problem := _ci_value(value):
        return problem
    outside = outside_expressions(value)
    if outside.split() != [outside]:
        return f"{value!r} contains white space outside a ${{{{ ... }}}} expression"
    return ""


def _ref(value: str) -> str:
    return git_ref_problem(value)


_RULES: dict[str, tuple[Callable[[str], str], str]] = {
    "registry": (lambda value: registry_prefix_problem(value) if value else "",
                 "give one registry prefix, e.g. localhost:5000/demo"),
    "changed_since": (_ref, "name a commit, branch or tag"),
    "ref1": (_ref, "name a commit, branch or tag"),
    "ref2": (_ref, "name a commit, branch or tag"),
    "cache_dir": (_no_comma, "choose a folder whose path has no ','"),
    "state_dir": (_not_empty, "name a folder, e.g. .state"),
    "root": (_not_empty, "name the repository folder, e.g. ."),
    "ci_runner": (_ci_value, "name a runner label, e.g. ubuntu-latest"),
    "ci_image": (_image, "name an image, e.g. docker:26 or ${{ vars.CI_IMAGE }}"),
    "ci_setup": (_ci_value, "give a shell command, e.g. 'pip install .'"),
    "link_base": (link_base_problem, "give the URL the output folder is published at, e.g. "
                                     "https://gitee.com/openeuler/openeuler-docker-images/blob/master"),
}


def _check_out(args: argparse.Namespace) -> None:
    """--out names a file for graph and export bake, a folder (anywhere) for export meta."""
    out = Path(args.out)
    path = out if out.is_absolute() or args.command in ("graph", "plan") else Path(args.root) / out
    if args.command == "export" and args.kind == "meta":
        _check_folder("--out", path, "build/meta")
    elif path.is_dir():
        raise OptionError(f"--out: {path} is a folder", "name a file, e.g. build/docker-bake.json")
    elif any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise OptionError(f"--out: {path} lies below a file", "name a file in a folder")


def _check_cache_folder(args: argparse.Namespace) -> None:
    """--cache local: the folder buildx is given (default STATE/cache, resolved) must hold no ','."""
    state = Path(args.state_dir)
    folder = Path(args.cache_dir) if args.cache_dir else (
        state if state.is_absolute() else Path(args.root) / state) / "cache"
    if "," in str(resolved := folder.resolve()):
        raise OptionError(f"--cache local: the cache folder {resolved} contains ',' (buildx reads it as a "
                          "separator)", "pass --cache-dir naming a folder whose path has no ','")


def _check_folder(flag: str, path: Path, example: str) -> None:
    """OptionError when the folder path is a file or lies below one (it is made when missing)."""
    if path.exists() and not path.is_dir():
        raise OptionError(f"{flag}: {path} is a file", f"name a folder, e.g. {example}")
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise OptionError(f"{flag}: {path} lies below a file", "name a folder in a folder")


def options_of(args: argparse.Namespace) -> api.Options:
    """The Options every command shares."""
    targets = tuple(Path(t) for t in getattr(args, "targets", ())) or (Path("stacks"),)
    return api.Options(root=Path(args.root).resolve(), targets=targets, registry=args.registry,
                       state_dir=Path(args.state_dir), select=tuple(getattr(args, "select", None) or ()),
                       platforms=tuple(p for group in getattr(args, "platform", None) or () for p in group),
                       max_nodes=getattr(args, "max_nodes", None) or DEFAULT_MAX_NODES,
                       only=tuple(getattr(args, "only", None) or ()),
                       credentials=named_credentials(os.environ))


def secret_policy_of(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> SecretPolicy:
    """--no-secrets, the host paths and the variables stack secrets may read: each flag, else its
    environment variable (never the repository's own settings: a pull request could change them)."""
    return SecretPolicy(withhold=args.no_secrets, allowed=_allowed_paths(args, environ),
                        envs=_allowed_envs(args, environ))


def secret_allowances(args: argparse.Namespace) -> list[str]:
    """The --secret-src-allow and --secret-env-allow flags given, to pass on to emitted jobs: names checked
    as a build checks them; a path is the runner's (it need not exist here; `checked` already refused
    control characters in it, as in every flag)."""
    flags = [arg for text in args.secret_src_allow for arg in (ALLOW_FLAG, text)]
    return flags + [arg for name in _allowed_envs(args, {}) for arg in (ENV_ALLOW_FLAG, name)]


def _given(values: list[str], flag: str, variable: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(where, text) of each value of flag, else of the ':'-separated environment variable (the flag wins)."""
    if values or not environ.get(variable):
        return [(flag, text) for text in values]
    where = f"environment variable {variable}"
    return [(where, text) for text in environ[variable].split(os.pathsep) if text]


def _allowed_paths(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[Path, ...]:
    """The host files and folders `src:` secrets may read besides the repository, resolved."""
    allowed = []
    for where, text in _given(args.secret_src_allow, ALLOW_FLAG, ALLOW_VARIABLE, environ):
        if problem := control_problem(text):
            raise OptionError(f"{where}: {problem}", "remove the control characters")
        path = Path(text)
        if not path.exists():
            raise OptionError(f"{where}: {text} does not exist",
                              "name a host file or folder stack secrets may read")
        allowed.append(path.resolve())
    return tuple(allowed)


def _allowed_envs(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The environment variables `env:` secrets may read (exact names)."""
    allowed = []
    for where, text in _given(args.secret_env_allow, ENV_ALLOW_FLAG, ENV_ALLOW_VARIABLE, environ):
        if not ENV_RE.fullmatch(text):
            raise OptionError(f"{where}: {text!r} is not an environment variable name (letters, digits and "
                              "'_', not starting with a digit)",
                              f"name the variable an `env:` secret reads, e.g. {ENV_ALLOW_FLAG} PIP_TOKEN")
        allowed.append(text)
    return tuple(allowed)


class IntermixedParser(argparse.ArgumentParser):
    """A subcommand's parser: its options may stand anywhere, between its positional arguments too."""

    _inside = False  # parse_known_intermixed_args may parse through parse_known_args (twice)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: Any = None) -> tuple[Any, list[str]]:
        """Options first, then the positional arguments left between and after them.

        After `--` everything is a positional argument, which argparse's intermixed parsing gets
        wrong (3.11 to 3.13.0 read `-- --offline` as the option): a command line with `--` is parsed
        as before, options before the positional arguments or after the last one.
        """
        args = sys.argv[1:] if args is None else list(args)
        if self._inside or "--" in args:
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that loads stacks."""
    parser.add_argument("--max-nodes", type=positive, default=DEFAULT_MAX_NODES, metavar="N",
                        help=f"refuse stacks that expand to more than N nodes (default {DEFAULT_MAX_NODES})")


def add_secret_options(parser: argparse.ArgumentParser, no_secrets_help: str) -> None:
    """--no-secrets, --secret-src-allow and --secret-env-allow: which stack secrets a command hands on
    (secret_policy_of)."""
    parser.add_argument("--no-secrets", action="store_true", help=no_secrets_help)
    parser.add_argument(ALLOW_FLAG, action="append", default=[], metavar="PATH",
                        help="a host file, or a folder, that stack secrets may read besides the repository "
                             f"(repeatable; env {ALLOW_VARIABLE}, ':'-separated)")
    parser.add_argument(ENV_ALLOW_FLAG, action="append", default=[], metavar="NAME",
                        help="an environment variable `env:` stack secrets may read (repeatable, exact name; "
                             f"env {ENV_ALLOW_VARIABLE}, ':'-separated); none by default")


MAX_WHOLE = 10**9  # larger counts and seconds overflow SQLite integers and thread timeouts


def positive(text: str) -> int:
    """A whole number from 1 to MAX_WHOLE (argparse reports a ValueError as an invalid value)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    if value > MAX_WHOLE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_WHOLE}")
    return value


def whole(text: str) -> int:
    """A whole number from 0 to MAX_WHOLE."""
    value = int(text)
    if not 0 <= value <= MAX_WHOLE:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_WHOLE}")
    return value


def platform_list(text: str) -> tuple[str, ...]:
    """--platform: one platform or a comma-separated list, each os/arch[/variant]."""
    platforms = tuple(part.strip() for part in text.split(",") if part.strip())
    for platform in platforms:
        problem = platform_problem(platform)
        if problem:
            raise argparse.ArgumentTypeError(f"{platform!r}: {problem}")
    if not platforms:
        raise argparse.ArgumentTypeError("name a platform, e.g. linux/amd64")
    return platforms
