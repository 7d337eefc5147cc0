"""Tag conventions: turn (kind, attrs, dev) into an image tag and parse a tag back, exactly.

A convention is a list of forms: templates with `{attr}` placeholders, each serving some kinds.
The named conventions and `template:<format>` live here; the model is in graph.tags.model and the
generic generate/parse machinery in graph.tags.scheme.
"""

from __future__ import annotations

import re

from graph.errors import StackError
from graph.tags.model import DEV, KINDS, PLACEHOLDER_RE, Codec, Convention, Form, FrozenAttrs, Rule, TagInfo
from graph.tags.openeuler import APP, APP_MEANING, OE_OS, OE_OS_MEANING, OPENEULER, VERSION, VERSION_MEANING
from graph.tags.scheme import TAG_HINT, Scheme, placeholders, with_dev

__all__ = [
    "ATTR_NAME_RE", "CONVENTIONS", "DEV", "DOTTED", "DOTTED_MEANING", "KINDS", "LETTERS", "LETTERS_MEANING",
    "LITERAL_RE", "NAMED", "NVIDIA", "NVIDIA_KINDS", "OEEP14", "PAI", "PLACEHOLDER_RE", "ROCM", "TAG_HINT",
    "TEMPLATE_PREFIX", "VERSION", "VERSION_MEANING", "Codec", "Convention", "Form", "FrozenAttrs", "Rule",
    "Scheme", "TagInfo", "get_convention", "template_convention",
]

CONVENTIONS = ("oeep14", "nvidia", "rocm", "pai", "openeuler")
TEMPLATE_PREFIX = "template:"
ATTR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LITERAL_RE = re.compile(r"[A-Za-z0-9_.-]*")
MAX_PLACEHOLDERS = 16  # placeholders in one tag template


# --- codecs -------------------------------------------------------------------------------------


def _python_short(version: str) -> str:
    """3.10 → 310."""
    return version.replace(".", "")


def _python_long(text: str) -> str:
    """310 → 3.10 (one-digit major)."""
    return f"{text[0]}.{text[1:]}"


def _cuda_short(version: str) -> str:
    """12.1 or 12.1.1 → 121."""
    major, minor = version.split(".")[:2]
    return major + minor


def _cuda_long(text: str) -> str:
    """121 → 12.1 (one-digit minor)."""
    return f"{text[:-1]}.{text[-1]}"


def _framework_short(name: str) -> str:
    """tensorflow → tf (ROCm dev tags); other names stay."""
    return "tf" if name == "tensorflow" else name


def _framework_long(text: str) -> str:
    """tf → tensorflow; other names stay."""
    return "tensorflow" if text == "tf" else text


# --- the named conventions ----------------------------------------------------------------------

DOTTED = r"[0-9][0-9.]*"
DOTTED_MEANING = "a version of digits and dots"
LETTERS = r"[a-z]+"
LETTERS_MEANING = "lower-case letters only"

OEEP14 = Scheme(
    name="oeep14",
    rules=(
        ("app", Rule(APP, APP_MEANING, "chatglm6b")),  # openEuler publishes llm:chatglm2_6b-…
        ("framework", Rule(LETTERS, LETTERS_MEANING, "pytorch")),
        ("framework_version", Rule(VERSION, VERSION_MEANING, "2.1.0")),
        ("os", Rule(OE_OS, OE_OS_MEANING, "2203sp3")),
        ("sdk", Rule(LETTERS, LETTERS_MEANING, "cann")),
        ("sdk_version", Rule(VERSION, VERSION_MEANING, "8.0.RC1")),
    ),
    forms=with_dev((
        Form(("os",), "oe{os}"),
        Form(("sdk",), "{sdk}{sdk_version}-oe{os}"),
        Form(("framework",), "{framework}{framework_version}-{sdk}{sdk_version}-oe{os}"),
        Form(("llm", "tool"), "{app}-{framework}{framework_version}-{sdk}{sdk_version}-oe{os}"),
        # read, never written: the SDK before the framework, as in oEEP-0014's own example
        # chatglm6b-cann7.0.RC1.alpha002-pytorch2.1.0-oe2203sp2 (lint warns and names the canonical tag)
        Form(("framework",), "{sdk}{sdk_version}-{framework}{framework_version}-oe{os}", canonical=False),
        Form(("llm", "tool"), "{app}-{sdk}{sdk_version}-{framework}{framework_version}-oe{os}",
             canonical=False),
    )),
)

NVIDIA_KINDS = ("sdk", "os", "framework", "tool", "llm")
NVIDIA = Scheme(
    name="nvidia",
    rules=(
        ("cuda_version", Rule(r"[0-9]+(?:\.[0-9]+)*", "a dotted version of digits", "12.2.0")),
        ("cudnn", Rule(r"[0-9]+", "digits (the cuDNN major version)", "8")),
        ("cuda_flavor", Rule(r"base|runtime|devel", "one of base, runtime, devel", "runtime")),
        ("os_name", Rule(LETTERS, LETTERS_MEANING, "ubuntu")),
        ("os_version", Rule(DOTTED, DOTTED_MEANING, "22.04")),
    ),
    forms=(
        Form(NVIDIA_KINDS, "{cuda_version}-cudnn{cudnn}-{cuda_flavor}-{os_name}{os_version}"),
        Form(NVIDIA_KINDS, "{cuda_version}-{cuda_flavor}-{os_name}{os_version}"),
    ),
    dev_hint="nvidia expresses dev as cuda_flavor=devel: set attrs.cuda_flavor to devel; "
             "list the node in dev.except",
)

ROCM = Scheme(
    name="rocm",
    rules=(
        ("rocm_version", Rule(DOTTED, DOTTED_MEANING, "5.7")),
        ("os_name", Rule(LETTERS, LETTERS_MEANING, "ubuntu")),
        ("os_version", Rule(DOTTED, DOTTED_MEANING, "22.04")),
        ("python", Rule(r"[0-9]+\.[0-9]+", "major.minor digits", "3.10")),
        ("framework", Rule(r"pytorch|tensorflow", "pytorch or tensorflow", "pytorch",
                           Codec(r"pytorch|tf", _framework_short, _framework_long))),
        ("framework_version", Rule(r"[0-9][A-Za-z0-9.]*",
                                   "a version starting with a digit, of letters, digits and '.'", "2.0.1")),
    ),
    forms=(
        Form(("framework",),
             "rocm{rocm_version}_{os_name}{os_version}_py{python}_pytorch_{framework_version}",
             fixed=(("framework", "pytorch"),)),
        Form(("framework",), "rocm{rocm_version}-{os_name}{os_version}-{framework}{framework_version}-dev",
             dev=True),
        Form(("sdk",), "rocm{rocm_version}_{os_name}{os_version}_py{python}"),
        Form(("sdk",), "rocm{rocm_version}-{os_name}{os_version}-dev", dev=True),
    ),
)

# PAI's shapes as PAI's own SDK reads them (github.com/aliyun/pai-python-sdk, pai/image.py at 0c30d85:
# training `<ver>-(gpu|cpu|mkl-cpu)-py<NN>[-cu<NNN>]-<os>`, inference `<ver>-py<NN>[-(gpu|cpu|mkl-cpu)]
# [-cu<NNN>]-<os>`; framework and scope from the repository, e.g. pytorch-inference), and the DLC API
# reference's example registry.cn-beijing.aliyuncs.com/pai-dlc/tensorflow-training:2.3-cpu-py36-ubuntu18.04.
# Inference forms come first so that a node with scope: inference gets one; without scope, training.
PAI_INFERENCE = (("scope", "inference"),)
PAI = Scheme(
    name="pai",
    rules=(
        ("framework_version", Rule(VERSION, VERSION_MEANING, "2.1.0")),
        ("accelerator", Rule(r"cpu|gpu|mkl-cpu", "one of cpu, gpu, mkl-cpu (a CPU build with Intel MKL)",
                             "cpu")),
        ("python", Rule(r"[0-9]\.[0-9]+", "major.minor with a one-digit major", "3.10",
                        Codec(r"[0-9]{2,}", _python_short, _python_long))),
        ("cuda_version", Rule(r"[0-9]+\.[0-9](?:\.[0-9]+)?", "major.minor[.patch] with a one-digit minor",
                              "12.1", Codec(r"[0-9]{2,}", _cuda_short, _cuda_long))),
        ("os_name", Rule(LETTERS, LETTERS_MEANING, "ubuntu")),
        ("os_version", Rule(DOTTED, DOTTED_MEANING, "22.04")),
    ),
    forms=with_dev((
        Form(("framework",), "{framework_version}-py{python}-cu{cuda_version}-{os_name}{os_version}",
             fixed=(("accelerator", "gpu"), *PAI_INFERENCE)),
        Form(("framework",), "{framework_version}-py{python}-{accelerator}-{os_name}{os_version}",
             fixed=PAI_INFERENCE),
        Form(("framework",), "{framework_version}-gpu-py{python}-cu{cuda_version}-{os_name}{os_version}",
             fixed=(("accelerator", "gpu"),)),
        Form(("framework",), "{framework_version}-{accelerator}-py{python}-{os_name}{os_version}"),
    )),
    repository=r"(?P<framework>[a-z][a-z0-9]*)-(?P<scope>training|inference)",
)

NAMED: dict[str, Scheme] = {scheme.name: scheme for scheme in (OEEP14, NVIDIA, ROCM, PAI, OPENEULER)}


# --- template conventions -----------------------------------------------------------------------


def _template_rule(attr: str) -> Rule:
    """The rule of a template placeholder: versions start with a digit, anything else is free."""
    if attr.endswith("version"):
        return Rule(r"[0-9][A-Za-z0-9_.]*?", VERSION_MEANING, "1.0")
    return Rule(r"[A-Za-z0-9_.]+?", "letters, digits, '.' or '_' (no '-')", "x")


def _template_problem(template: str) -> tuple[str, str]:
    """(what is wrong with template, how to fix it), or ('', '')."""
    parts = PLACEHOLDER_RE.split(template)
    literals, names = parts[0::2], parts[1::2]
    if any("{" in text or "}" in text for text in literals):
        return f"template {template!r} has unbalanced braces", "write each placeholder as {attr}"
    if not names:
        return f"template {template!r} has no {{attr}} placeholder", "e.g. template:{app}-py{python}"
    if len(names) > MAX_PLACEHOLDERS:
        return (f"template has {len(names)} placeholders, more than {MAX_PLACEHOLDERS}",
                "a tag of at most 128 characters needs fewer: join attrs into one with 'attrs:'")
    bad = next((name for name in names if not ATTR_NAME_RE.fullmatch(name)), None)
    if bad is not None:
        return (f"template placeholder {{{bad}}} is not an attr name",
                "use {attr} with letters, digits and '_' only (no positions, no format specs)")
    text = next((text for text in literals if not LITERAL_RE.fullmatch(text)), None)
    if text is not None:
        return (f"template text {text!r} has characters not allowed in tags",
                "use only letters, digits, '_', '.' and '-' between placeholders")
    touching = next((i for i in range(1, len(names)) if not literals[i] and not names[i].endswith("version")),
                    None)
    if touching is not None:
        return (f"template placeholders {{{names[touching - 1]}}}{{{names[touching]}}} touch, "
                "so a tag could not be split back",
                "put text such as '-' between them, or make the second a *version (starts with a digit)")
    return "", ""


def template_convention(spec: str) -> Scheme:
    """The convention of `template:<format>`; StackError if the format is unusable."""
    template = spec.removeprefix(TEMPLATE_PREFIX)
    problem, hint = _template_problem(template)
    if problem:
        raise StackError(problem, hint=hint)
    rules = tuple((attr, _template_rule(attr)) for attr in placeholders(template))
    return Scheme(name=spec, rules=rules, forms=with_dev((Form(("", *KINDS), template),)))


def get_convention(spec: str) -> Convention:
    """The convention named spec: one of CONVENTIONS or `template:<format>`."""
    if spec.startswith(TEMPLATE_PREFIX):
        return template_convention(spec)
    if spec not in NAMED:
        raise StackError(f"unknown tag convention {spec!r}",
                         hint=f"use one of {', '.join(CONVENTIONS)} or {TEMPLATE_PREFIX}<format>")
    return NAMED[spec]
