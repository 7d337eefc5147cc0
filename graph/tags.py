"""Tag conventions: turn (kind, attrs, dev) into an image tag and parse a tag back, exactly.

A convention is a list of forms: templates with `{attr}` placeholders, each serving some kinds.
Generating fills the form that fits the attrs; parsing matches the tag against the forms in order.
Every generated tag is parsed back before it is returned, so a convention never hands out a tag it
would misread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from graph.checks import tag_problem
from graph.errors import StackError

KINDS = ("os", "sdk", "framework", "tool", "llm")
CONVENTIONS = ("oeep14", "nvidia", "rocm", "pai")
TEMPLATE_PREFIX = "template:"
DEV = "-dev"
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
ATTR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LITERAL_RE = re.compile(r"[A-Za-z0-9_.-]*")
TAG_HINT = "a tag is at most 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'"


class FrozenAttrs(Mapping[str, str]):
    """An immutable, hashable str → str mapping that iterates in sorted key order."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._items = dict(sorted(dict(items).items()))

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)


@dataclass(frozen=True)
class TagInfo:
    """What a tag says: the node kind ('' when the tag cannot tell), its attrs and the -dev flag."""

    kind: str
    attrs: Mapping[str, str]
    dev: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", FrozenAttrs(self.attrs))


class Convention(Protocol):
    """A named tag scheme that generates tags from attrs and parses them back."""

    @property
    def name(self) -> str:
        """The name get_convention knows it by."""
        ...

    def generate(self, kind: str, attrs: Mapping[str, str], dev: bool) -> str:
        """The tag of a node; StackError naming missing or invalid attrs."""
        ...

    def parse(self, tag: str, kind: str = "") -> TagInfo:
        """What tag says (kind, when given, must be one the tag can have); StackError otherwise."""
        ...

    def required(self, kind: str, dev: bool = False) -> tuple[str, ...]:
        """The attrs every tag of kind (and dev) needs."""
        ...


@dataclass(frozen=True)
class Codec:
    """How an attr value is written inside a tag (e.g. python 3.10 as 310) and read back."""

    pattern: str
    encode: Callable[[str], str]
    decode: Callable[[str], str]


@dataclass(frozen=True)
class Rule:
    """The values one attr may take in a convention: a regex, its meaning and an example."""

    pattern: str
    meaning: str
    example: str
    codec: Codec | None = None

    @property
    def written(self) -> str:
        """The regex of the value as written in a tag."""
        return self.codec.pattern if self.codec else self.pattern

    def write(self, value: str) -> str:
        """The value as written in a tag."""
        return self.codec.encode(value) if self.codec else value

    def read(self, text: str) -> str:
        """The value written as text in a tag."""
        return self.codec.decode(text) if self.codec else text


@dataclass(frozen=True)
class Form:
    """One tag shape: the kinds it serves (the first is what parse reports), its template, what it implies."""

    kinds: tuple[str, ...]
    template: str
    dev: bool = False
    fixed: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Scheme:
    """A convention made of forms and attr rules (implements Convention)."""

    name: str
    rules: tuple[tuple[str, Rule], ...]
    forms: tuple[Form, ...]
    dev_hint: str = ""

    def rule(self, attr: str) -> Rule:
        """The rule of attr."""
        return dict(self.rules)[attr]

    def generate(self, kind: str, attrs: Mapping[str, str], dev: bool) -> str:
        """The tag of a node; StackError naming missing or invalid attrs."""
        return _generate(self, kind, attrs, dev)

    def parse(self, tag: str, kind: str = "") -> TagInfo:
        """What tag says (kind, when given, must be one the tag can have); StackError otherwise."""
        return _parse(self, tag, kind)

    def required(self, kind: str, dev: bool = False) -> tuple[str, ...]:
        """The attrs every tag of kind (and dev) needs."""
        needs = [_needs(form) for form in _forms_for(self, kind, dev)]
        return tuple(attr for attr in needs[0] if all(attr in other for other in needs))


# --- generic machinery --------------------------------------------------------------------------


def _names(template: str) -> tuple[str, ...]:
    """The placeholders of template, each once, in order."""
    return tuple(dict.fromkeys(PLACEHOLDER_RE.findall(template)))


def _needs(form: Form) -> tuple[str, ...]:
    """The attrs a form reads: its placeholders, then the attrs it implies."""
    return (*_names(form.template), *(attr for attr, _ in form.fixed))


def _regex(scheme: Scheme, template: str) -> re.Pattern[str]:
    """The regex matching exactly the tags of template (a repeated placeholder must repeat its value)."""
    parts = PLACEHOLDER_RE.split(template)
    out: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(re.escape(part))
        elif part in parts[1:index:2]:
            out.append(f"(?P={part})")
        else:
            out.append(f"(?P<{part}>{scheme.rule(part).written})")
    return re.compile("".join(out))


def _render(scheme: Scheme, template: str, attrs: Mapping[str, str]) -> str:
    """template filled with attrs (as written in tags)."""
    return PLACEHOLDER_RE.sub(lambda found: scheme.rule(found[1]).write(attrs[found[1]]), template)


def _example(scheme: Scheme, template: str) -> str:
    """template filled with the rules' examples."""
    return _render(scheme, template, {attr: scheme.rule(attr).example for attr in _names(template)})


def _display(template: str) -> str:
    """template written as in the conventions' documents: <attr> for {attr}."""
    return PLACEHOLDER_RE.sub(r"<\1>", template)


def _main_templates(forms: Iterable[Form]) -> list[str]:
    """The forms' templates without the `-dev` copies of another template."""
    templates = [form.template for form in forms]
    return [t for t in templates if not (t.endswith(DEV) and t.removesuffix(DEV) in templates)]


def _shape(forms: Iterable[Form]) -> str:
    """The forms as one readable pattern, a `-dev` copy shown as [-dev]."""
    forms = list(forms)
    templates = {form.template for form in forms}
    shown = [t + ("[-dev]" if t + DEV in templates else "") for t in _main_templates(forms)]
    return " | ".join(_display(t) for t in shown)


def _check_kind(kind: str) -> None:
    """Reject a kind that is not one of KINDS."""
    if kind not in KINDS:
        raise StackError(f"unknown kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")


def _of_kind(scheme: Scheme, kind: str) -> list[Form]:
    """The forms serving kind; StackError if there are none."""
    _check_kind(kind)
    forms = [form for form in scheme.forms if kind in form.kinds]
    if not forms:
        covered = [k for k in KINDS if any(k in form.kinds for form in scheme.forms)]
        raise StackError(f"{scheme.name} has no tag form for kind {kind!r}",
                         hint=f"{scheme.name} covers {', '.join(covered)}; "
                              "use another convention (e.g. template:<format>) for this node")
    return forms


def _forms_for(scheme: Scheme, kind: str, dev: bool) -> list[Form]:
    """The forms for kind and dev; StackError if there are none."""
    forms = [form for form in _of_kind(scheme, kind) if form.dev == dev]
    if not forms:
        raise StackError(f"{scheme.name} has no -dev tag for kind {kind!r}",
                         hint=scheme.dev_hint or "set dev: false or use another convention")
    return forms


def _conflicts(form: Form, attrs: Mapping[str, str]) -> list[str]:
    """The attrs whose values contradict what form implies."""
    return [attr for attr, value in form.fixed if attr in attrs and attrs[attr] != value]


def _missing(form: Form, attrs: Mapping[str, str]) -> list[str]:
    """The attrs form needs that attrs lack."""
    return [attr for attr in _needs(form) if attr not in attrs]


def _filler(scheme: Scheme, form: Form, attr: str) -> str:
    """An example value of attr for form."""
    return dict(form.fixed).get(attr) or scheme.rule(attr).example


def _choose(scheme: Scheme, forms: list[Form], kind: str, dev: bool, attrs: Mapping[str, str]) -> Form:
    """The form attrs fit (fewest missing attrs wins); StackError on conflicting or missing attrs."""
    fitting = [form for form in forms if not _conflicts(form, attrs)]
    if not fitting:
        attr = _conflicts(forms[0], attrs)[0]
        allowed = dict.fromkeys(dict(form.fixed)[attr] for form in forms if attr in dict(form.fixed))
        raise StackError(f"{scheme.name} tag attr {attr!r} has invalid value {attrs[attr]!r}",
                         hint=f"{attr} must be {' or '.join(allowed)} for a {kind}{DEV if dev else ''} tag")
    best = min(fitting, key=lambda form: len(_missing(form, attrs)))
    missing = _missing(best, attrs)
    if missing:
        example = ", ".join(f"{attr}: {_filler(scheme, best, attr)}" for attr in missing)
        raise StackError(f"{scheme.name} tag for kind {kind!r} is missing attrs: {', '.join(missing)}",
                         hint=f"add them to the node's attrs, e.g. {example}")
    return best


def _check_values(scheme: Scheme, form: Form, attrs: Mapping[str, str]) -> None:
    """Reject an empty attr value or one its rule does not allow."""
    for attr in _names(form.template):
        rule, value = scheme.rule(attr), attrs[attr]
        if not value:
            raise StackError(f"{scheme.name} tag attr {attr!r} is empty",
                             hint=f"set {attr} to {rule.meaning}, e.g. {rule.example}")
        if not re.fullmatch(rule.pattern, value):
            raise StackError(f"{scheme.name} tag attr {attr!r} has invalid value {value!r}",
                             hint=f"{attr} must be {rule.meaning}, e.g. {rule.example}")


def _expected(scheme: Scheme, form: Form, kind: str, attrs: Mapping[str, str]) -> TagInfo:
    """What parsing the tag of form and attrs must give back (values as the tag can carry them)."""
    values = {attr: scheme.rule(attr).read(scheme.rule(attr).write(attrs[attr]))
              for attr in _names(form.template)}
    return TagInfo(kind, {**values, **dict(form.fixed)}, form.dev)


def _generate(scheme: Scheme, kind: str, attrs: Mapping[str, str], dev: bool) -> str:
    """The tag of (kind, attrs, dev), checked to be a valid tag that parses back to the same."""
    form = _choose(scheme, _forms_for(scheme, kind, dev), kind, dev, attrs)
    _check_values(scheme, form, attrs)
    tag = _render(scheme, form.template, attrs)
    problem = tag_problem(tag)
    if problem:
        raise StackError(f"{scheme.name} made an invalid tag: {problem}", hint=TAG_HINT)
    expected, parsed = _expected(scheme, form, kind, attrs), _parse(scheme, tag, kind)
    if parsed != expected:
        raise StackError(f"tag {tag!r} would parse back as {dict(parsed.attrs)}, not {dict(expected.attrs)}",
                         hint="separate the placeholders of the template with literal text such as '-'")
    return tag


def _lined_up(template: str, parts: list[str]) -> list[str] | None:
    """template's '-'-separated pieces if they line up with parts (same count, same fixed words)."""
    pieces = template.split("-")
    if len(pieces) != len(parts) or len(parts) < 2:
        return None
    same = all(piece == part for piece, part in zip(pieces, parts, strict=True) if "{" not in piece)
    return pieces if same else None


def _fitting(scheme: Scheme, pieces: list[str], parts: list[str]) -> list[str]:
    """The parts that match their piece."""
    return [part for piece, part in zip(pieces, parts, strict=True) if _regex(scheme, piece).fullmatch(part)]


def _diagnose(scheme: Scheme, forms: list[Form], tag: str) -> str:
    """A hint naming the first wrong '-'-separated part of tag in the form it fits best, or examples."""
    parts = tag.split("-")
    candidates = [pieces for form in forms if (pieces := _lined_up(form.template, parts))]
    for pieces in sorted(candidates, key=lambda pieces: -len(_fitting(scheme, pieces, parts))):
        for piece, part in zip(pieces, parts, strict=True):
            if not _regex(scheme, piece).fullmatch(part):
                return f"{part!r} should look like {_display(piece)}, e.g. {_example(scheme, piece)}"
    return "e.g. " + " or ".join(_example(scheme, t) for t in _main_templates(forms))


def _parse(scheme: Scheme, tag: str, kind: str) -> TagInfo:
    """What tag says under scheme, trying its forms (of kind, when given) in order."""
    forms = _of_kind(scheme, kind) if kind else list(scheme.forms)
    for form in forms:
        found = _regex(scheme, form.template).fullmatch(tag)
        if found:
            attrs = {attr: scheme.rule(attr).read(found[attr]) for attr in _names(form.template)}
            return TagInfo(kind or form.kinds[0], {**attrs, **dict(form.fixed)}, form.dev)
    raise StackError(f"tag {tag!r} does not follow {scheme.name}: expected {_shape(forms)}",
                     hint=_diagnose(scheme, forms, tag))


def _with_dev(forms: tuple[Form, ...]) -> tuple[Form, ...]:
    """forms, then a copy of each ending in -dev."""
    return forms + tuple(replace(form, template=form.template + DEV, dev=True) for form in forms)


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

VERSION = r"[0-9][A-Za-z0-9_.]*"
VERSION_MEANING = "a version starting with a digit, of letters, digits, '.' and '_' (no '-')"
DOTTED = r"[0-9][0-9.]*"
DOTTED_MEANING = "a version of digits and dots"
LETTERS = r"[a-z]+"
LETTERS_MEANING = "lower-case letters only"

OEEP14 = Scheme(
    name="oeep14",
    rules=(
        ("app", Rule(r"[a-z0-9]+", "lower-case letters and digits only", "chatglm6b")),
        ("framework", Rule(LETTERS, LETTERS_MEANING, "pytorch")),
        ("framework_version", Rule(VERSION, VERSION_MEANING, "2.1.0")),
        ("os", Rule(r"[0-9]+[a-z0-9]*", "an openEuler version: digits, then lower-case letters and digits",
                    "2203sp3")),
        ("sdk", Rule(LETTERS, LETTERS_MEANING, "cann")),
        ("sdk_version", Rule(VERSION, VERSION_MEANING, "8.0.RC1")),
    ),
    forms=_with_dev((
        Form(("os",), "oe{os}"),
        Form(("sdk",), "{sdk}{sdk_version}-oe{os}"),
        Form(("framework",), "{framework}{framework_version}-{sdk}{sdk_version}-oe{os}"),
        Form(("llm", "tool"), "{app}-{framework}{framework_version}-{sdk}{sdk_version}-oe{os}"),
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
    dev_hint="nvidia expresses dev as cuda_flavor=devel: set attrs.cuda_flavor to devel and dev to false",
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

PAI = Scheme(
    name="pai",
    rules=(
        ("framework_version", Rule(VERSION, VERSION_MEANING, "2.1.0")),
        ("python", Rule(r"[0-9]\.[0-9]+", "major.minor with a one-digit major", "3.10",
                        Codec(r"[0-9]{2,}", _python_short, _python_long))),
        ("cuda_version", Rule(r"[0-9]+\.[0-9](?:\.[0-9]+)?", "major.minor[.patch] with a one-digit minor",
                              "12.1", Codec(r"[0-9]{2,}", _cuda_short, _cuda_long))),
        ("os_name", Rule(LETTERS, LETTERS_MEANING, "ubuntu")),
        ("os_version", Rule(DOTTED, DOTTED_MEANING, "22.04")),
    ),
    forms=_with_dev((
        Form(("framework",), "{framework_version}-gpu-py{python}-cu{cuda_version}-{os_name}{os_version}",
             fixed=(("accelerator", "gpu"),)),
        Form(("framework",), "{framework_version}-cpu-py{python}-{os_name}{os_version}",
             fixed=(("accelerator", "cpu"),)),
    )),
)

NAMED: dict[str, Scheme] = {scheme.name: scheme for scheme in (OEEP14, NVIDIA, ROCM, PAI)}


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
    rules = tuple((attr, _template_rule(attr)) for attr in _names(template))
    return Scheme(name=spec, rules=rules, forms=_with_dev((Form(("", *KINDS), template),)))


def get_convention(spec: str) -> Convention:
    """The convention named spec: one of CONVENTIONS or `template:<format>`."""
    if spec.startswith(TEMPLATE_PREFIX):
        return template_convention(spec)
    if spec not in NAMED:
        raise StackError(f"unknown tag convention {spec!r}",
                         hint=f"use one of {', '.join(CONVENTIONS)} or {TEMPLATE_PREFIX}<format>")
    return NAMED[spec]
