"""Checks of single stack-file values (attr names, secrets, targets, …): each gives a problem or ''."""

from __future__ import annotations

from graph.errors import StackError
from graph.load.fields import Fields
from graph.load.reference import reference_problem
from graph.model import checks
from graph.model.spec import PROVENANCE_MODES, Secret
from graph.tags.conventions import get_convention

SECRET_KEYS = ("id", "env", "src")


def read_secrets(fields: Fields) -> tuple[Secret, ...]:
    """Build secrets: each {id, env} or {id, src}; never build args."""
    items = fields.data.get("secrets", [])
    if not isinstance(items, list):
        raise fields.fail("secrets", "'secrets' must be a list of {id, env} or {id, src}")
    result: list[Secret] = []
    for index, _ in enumerate(items):
        item = Fields(fields.doc, (*fields.path, "secrets", index), items[index], SECRET_KEYS,
                      "a secret")
        secret = Secret(item.text("id", check=secret_id_problem),
                        item.text("env", "", env_problem), item.text("src", "", src_problem),
                        item.where("src" if item.has("src") else "id"))
        if bool(secret.env) == bool(secret.src):
            raise item.fail("id", f"secret {secret.id!r} needs exactly one of 'env' or 'src'")
        if any(earlier.id == secret.id for earlier in result):  # buildx would take only one of them
            raise item.fail("id", f"secret {secret.id!r} is listed twice", "give each secret its own id")
        result.append(secret)
    return tuple(result)


def check_args(fields: Fields, key: str) -> None:
    for name, value in fields.mapping(key).items():
        problem = checks.arg_problem(name, value)
        if problem:
            raise StackError(problem, fields.where(key, name), "fix the build arg")


def check_attr_values(fields: Fields) -> None:
    """Attribute values become labels, build args and test arguments: one line, no control character."""
    for name, value in fields.mapping("attrs", attr_problem).items():
        if problem := checks.control_problem(value):
            raise StackError(f"attrs.{name}: {problem}", fields.where("attrs", name),
                             "write the value on one line, without control characters")


def convention_problem(value: str) -> str:
    try:
        get_convention(value)
    except StackError as exc:
        return f"{exc.message}; {exc.hint}" if exc.hint else exc.message
    return ""


RESERVED_ATTRS = ("arch", "platform")


def attr_problem(name: str) -> str:
    if not (name.isascii() and name.isidentifier()):  # constraints read 'ｘ' as 'x' (NFKC), templates do not
        return f"attribute name {name!r} must be a letter or '_' followed by letters, digits or '_'"
    if name in RESERVED_ATTRS:
        return f"attribute name {name!r} is reserved: constraints get it from each platform"
    return ""


def provenance_problem(value: str) -> str:
    if value in PROVENANCE_MODES:
        return ""
    return f"provenance {value!r} is not a mode (known: {', '.join(PROVENANCE_MODES)})"


def generator_problem(value: str) -> str:
    """Why an `sbom.generator` value is not an image reference, or ''."""
    problem = reference_problem(value)
    return problem.replace("'from'", "sbom generator") if problem else ""


def value_problem(value: str) -> str:
    return checks.value_problem(value)


def target_problem(value: str) -> str:
    return "" if checks.TARGET_RE.fullmatch(value) else f"target {value!r} is not a stage name"


def secret_id_problem(value: str) -> str:
    return "" if checks.SECRET_ID_RE.fullmatch(value) else f"secret id {value!r} may use only [A-Za-z0-9_.-]"


def env_problem(value: str) -> str:
    return "" if checks.ENV_RE.fullmatch(value) else f"env {value!r} is not a variable name"


def src_problem(value: str) -> str:
    if not value:
        return "src must name a file"
    return "" if "," not in value and "\n" not in value else f"src {value!r} may not contain ','"


def suffix_problem(value: str) -> str:
    if value.startswith(("-", "_", ".")) and not checks.name_problem("x" + value):
        return ""
    return f"suffix {value!r} must start with '-', '_' or '.' and use lower-case letters and digits"
