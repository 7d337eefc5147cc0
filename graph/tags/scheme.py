"""Generic tag schemes: a Scheme of forms and attr rules that generates tags and parses them back exactly.

Generating fills the form that fits the attrs; parsing matches the tag against the forms in order.
Every generated tag is parsed back before it is returned, so a scheme never hands out a tag it would misread.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from graph.errors import StackError
from graph.model.checks import tag_problem
from graph.tags.match import Piece, compile_template, match_template
from graph.tags.model import DEV, KINDS, PLACEHOLDER_RE, Form, Rule, TagInfo
from graph.tags.names import KNOWN, misread, role_of

MAX_TAG = 128
TAG_HINT = "a tag is at most 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-'"


@dataclass(frozen=True)
class Scheme:
    """A convention made of forms and attr rules (implements Convention)."""

    name: str
    rules: tuple[tuple[str, Rule], ...]
    forms: tuple[Form, ...]
    dev_hint: str = ""
    repository: str = ""  # a regex whose named groups are attrs of a repository's last path part

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

    def canonical(self, tag: str, kind: str = "") -> str:
        """tag as the convention writes it (the same tag unless its fields are in another order)."""
        form, info = _parse_form(self, tag, kind)
        return tag if form.canonical else _generate(self, info.kind, info.attrs, info.dev)

    def form_of(self, tag: str, kind: str = "") -> Form:
        """The form tag follows; StackError as parse."""
        return _parse_form(self, tag, kind)[0]

    def repository_attrs(self, repository: str) -> dict[str, str]:
        """The attrs a repository name carries (its last path part matched against `repository`)."""
        found = re.fullmatch(self.repository, repository.rsplit("/", 1)[-1]) if self.repository else None
        return {key: value for key, value in found.groupdict().items() if value} if found else {}


def placeholders(template: str) -> tuple[str, ...]:
    """The placeholders of template, each once, in order."""
    return tuple(dict.fromkeys(PLACEHOLDER_RE.findall(template)))


def _needs(form: Form) -> tuple[str, ...]:
    """The attrs a form reads: its placeholders, then the attrs it implies."""
    return (*placeholders(form.template), *(attr for attr, _ in form.fixed))


@functools.lru_cache(maxsize=1024)
def _pieces(scheme: Scheme, template: str) -> tuple[Piece, ...]:
    """template as pieces to match tags against (a repeated placeholder must repeat its value)."""
    return compile_template(template, lambda name: scheme.rule(name).written)


def _match(scheme: Scheme, template: str, text: str) -> dict[str, str] | None:
    """The placeholder values (as written) if text is exactly a tag of template, else None."""
    return match_template(_pieces(scheme, template), text)


def _render(scheme: Scheme, template: str, attrs: Mapping[str, str]) -> str:
    """template filled with attrs (as written in tags)."""
    return PLACEHOLDER_RE.sub(lambda found: scheme.rule(found[1]).write(attrs[found[1]]), template)


def _example(scheme: Scheme, template: str) -> str:
    """template filled with the rules' examples."""
    return _render(scheme, template, {attr: scheme.rule(attr).example for attr in placeholders(template)})


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
    """The canonical forms for kind and dev; StackError if there are none."""
    forms = [form for form in _of_kind(scheme, kind) if form.dev == dev and form.canonical]
    if not forms:
        raise StackError(f"{scheme.name} has no -dev tag for kind {kind!r}",
                         hint=scheme.dev_hint or "list the node in dev.except, or use another convention")
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
    for attr in placeholders(form.template):
        rule, value = scheme.rule(attr), attrs[attr]
        if not value:
            raise StackError(f"{scheme.name} tag attr {attr!r} is empty",
                             hint=f"set {attr} to {rule.meaning}, e.g. {rule.example}")
        if not re.fullmatch(rule.pattern, value):
            raise StackError(f"{scheme.name} tag attr {attr!r} has invalid value {value!r}",
                             hint=f"{attr} must be {rule.meaning}, e.g. {rule.example}")
    wrong = misread({attr: attrs[attr] for attr in placeholders(form.template)})
    if wrong:
        attr, value = wrong
        raise StackError(f"{scheme.name} tag attr {attr!r} is {value!r}, a known {role_of(value)} name",
                         hint=f"put {value} in {role_of(value)}, and in {attr} one of "
                              f"{', '.join(KNOWN[attr])} (or another {attr} name)")


def _expected(scheme: Scheme, form: Form, kind: str, attrs: Mapping[str, str]) -> TagInfo:
    """What parsing the tag of form and attrs must give back (values as the tag can carry them)."""
    values = {attr: scheme.rule(attr).read(scheme.rule(attr).write(attrs[attr]))
              for attr in placeholders(form.template)}
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
    return [part for piece, part in zip(pieces, parts, strict=True)
            if _match(scheme, piece, part) is not None]


def _diagnose(scheme: Scheme, forms: list[Form], tag: str) -> str:
    """A hint naming the first wrong '-'-separated part of tag in the form it fits best, or examples."""
    parts = tag.split("-")
    candidates = [pieces for form in forms if (pieces := _lined_up(form.template, parts))]
    for pieces in sorted(candidates, key=lambda pieces: -len(_fitting(scheme, pieces, parts))):
        for piece, part in zip(pieces, parts, strict=True):
            if _match(scheme, piece, part) is None:
                return f"{part!r} should look like {_display(piece)}, e.g. {_example(scheme, piece)}"
    return "e.g. " + " or ".join(_example(scheme, t) for t in _main_templates(forms))


def _parse(scheme: Scheme, tag: str, kind: str) -> TagInfo:
    """What tag says under scheme, trying its forms (of kind, when given) in order."""
    return _parse_form(scheme, tag, kind)[1]


def _parse_form(scheme: Scheme, tag: str, kind: str) -> tuple[Form, TagInfo]:
    """The form tag follows and what it says; a form reading a known name in the wrong field is skipped."""
    forms = _of_kind(scheme, kind) if kind else list(scheme.forms)
    if len(tag) > MAX_TAG:
        raise StackError(f"tag {tag[:40]!r}... is {len(tag)} characters long, more than {MAX_TAG}",
                         hint=TAG_HINT)
    wrong: tuple[str, str] | None = None
    for form in forms:
        found = _match(scheme, form.template, tag)
        if found is not None:
            attrs = {attr: scheme.rule(attr).read(found[attr]) for attr in placeholders(form.template)}
            misfit = misread(attrs)
            if misfit is None:
                return form, TagInfo(kind or form.kinds[0], {**attrs, **dict(form.fixed)}, form.dev)
            wrong = wrong or misfit
    canonical = [form for form in forms if form.canonical]
    hint = (f"{wrong[1]!r} is a known {role_of(wrong[1])} name, not a {wrong[0]}" if wrong
            else _diagnose(scheme, canonical, tag))
    raise StackError(f"tag {tag!r} does not follow {scheme.name}: expected {_shape(canonical)}", hint=hint)


def with_dev(forms: tuple[Form, ...]) -> tuple[Form, ...]:
    """forms, then a copy of each ending in -dev."""
    return forms + tuple(replace(form, template=form.template + DEV, dev=True) for form in forms)
