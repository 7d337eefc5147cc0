"""openEuler's published tag scheme (openeuler-docker-images' meta.yml files), as the `openeuler` convention.

openEuler publishes `openeuler/<image>:<image-version>-oe<os>`: oEEP-0014's tags without their leading
sdk/framework name (`cann:8.0.RC1-oe2203sp4`, `pytorch:2.2.0-cann8.0.RC1-oe2203sp4`). Some tags name
the image's Python (`cann:8.1.RC1-python3.11-oe2403lts`) or cuDNN (`cuda:11.8.0-cudnn8.9.0-oe2203lts`),
and the images of the CANN 7.0.RC1.alpha002 family kept the framework name
(`pytorch:pytorch2.1.0.a1-cann7.0.RC1.alpha002-oe2203sp2`). Which of these a node's tag uses is the
node's choice, through the attrs `tag_python: "yes"` and `tag_framework: "yes"`; without them (or with
"no") the tag has neither. Forms are tried in order, the most specific first, so an untyped tag parses
as the kind openEuler uses it for, except an application's `<app_version>-oe<os>`, which reads as the
SDK tag of the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graph.errors import StackError
from graph.tags.model import Form, Rule
from graph.tags.scheme import Scheme, placeholders, with_dev

VERSION = r"[0-9][A-Za-z0-9_.]*"
VERSION_MEANING = "a version starting with a digit, of letters, digits, '.' and '_' (no '-')"
APP = r"[a-z0-9]+(?:_[a-z0-9]+)*"  # openEuler's app names (oeep14 reads them alike)
APP_MEANING = "lower-case letters and digits, words joined by '_'"
OE_OS = r"[0-9]+[a-z0-9]*"
OE_OS_MEANING = "an openEuler version: digits, then lower-case letters and digits"
NAME = r"(?!python)[a-z]+(?:_[a-z]+)*"
NAME_MEANING = "lower-case letters, words joined by '_' (not 'python')"
YES = "yes"

RULES = (
    ("app", Rule(APP, APP_MEANING, "chatglm2_6b")),
    ("app_version", Rule(VERSION, VERSION_MEANING, "0.9.1rc1")),
    ("cudnn", Rule(VERSION, VERSION_MEANING, "8.9.0")),
    ("framework", Rule(NAME, NAME_MEANING, "pytorch")),
    ("framework_version", Rule(VERSION, VERSION_MEANING, "2.2.0")),
    ("os", Rule(OE_OS, OE_OS_MEANING, "2203sp4")),
    ("os_release", Rule(r"[0-9]{2}\.[0-9]{2}(?:-lts)?(?:-sp[0-9]+)?",
                        "an openEuler release such as 22.03-lts-sp4", "24.03-lts")),
    ("python", Rule(r"[0-9]+\.[0-9]+", "major.minor digits", "3.11")),
    ("sdk", Rule(NAME, NAME_MEANING, "cann")),
    ("sdk_version", Rule(VERSION, VERSION_MEANING, "8.0.RC1")),
    ("tag_framework", Rule(YES, "yes (the tag starts with the framework's name)", YES)),
    ("tag_python", Rule(YES, "yes (the tag names the image's Python)", YES)),
)

FRAMEWORK_TAIL = "{framework}{framework_version}-{sdk}{sdk_version}-oe{os}"
APPS = ("tool", "llm")

FORMS = (
    # SDK images: cuda:11.8.0-cudnn8.9.0-oe2203lts, cann:8.1.RC1-python3.11-oe2403lts, cann:8.0.RC1-oe2203sp4
    Form(("sdk",), "{sdk_version}-cudnn{cudnn}-oe{os}"),
    Form(("sdk",), "{sdk_version}-python{python}-oe{os}", fixed=(("tag_python", YES),)),
    Form(("sdk",), "{sdk_version}-oe{os}"),
    # frameworks: pytorch:pytorch2.1.0.a1-cann7.0.RC1.alpha002-oe2203sp2, pytorch:2.2.0-cann8.0.RC1-oe2203sp4
    Form(("framework",), FRAMEWORK_TAIL, fixed=(("tag_framework", YES),)),
    Form(("framework",), "{framework_version}-{sdk}{sdk_version}-oe{os}"),
    # applications: llm:fastchat-pytorch2.1.0.a1-cann7.0.RC1.alpha002-oe2203sp2,
    # vllm-ascend:0.9.1rc1-torch_npu2.5.1-cann8.1.rc1-python3.10-oe2203lts,
    # executorch:1.0.0-torch2.9.0-python3.11-oe2403sp4, mlflow:2.17.1-oe2203sp4
    Form(("llm", "tool"), "{app}-" + FRAMEWORK_TAIL),
    Form(APPS, "{app_version}-{framework}{framework_version}-{sdk}{sdk_version}-python{python}-oe{os}"),
    Form(APPS, "{app_version}-{framework}{framework_version}-python{python}-oe{os}"),
    Form(APPS, "{app_version}-oe{os}"),
    # the base images: openeuler/openeuler:24.03-lts
    Form(("os",), "{os_release}"),
)

SWITCHES = ("tag_python", "tag_framework")


@dataclass(frozen=True)
class PublishedScheme(Scheme):
    """A Scheme whose switches (tag_python/tag_framework: yes) must be honoured, never silently dropped."""

    def generate(self, kind: str, attrs: Mapping[str, str], dev: bool) -> str:
        """The tag of a node; StackError also when a switch is on but its form's attrs are missing."""
        tag = super().generate(kind, attrs, dev)
        shown = self.parse(tag, kind).attrs
        for switch in (s for s in SWITCHES if attrs.get(s) == YES and shown.get(s) != YES):
            form = next((f for f in self.forms if kind in f.kinds and (switch, YES) in f.fixed), None)
            if form is not None:
                missing = [a for a in placeholders(form.template) if a not in attrs]
                raise StackError(f"openeuler tag for kind {kind!r} has {switch}: yes but is missing attrs: "
                                 f"{', '.join(missing)}",
                                 hint=f"add them to the node's attrs, or drop {switch}")
        return tag


OPENEULER = PublishedScheme(name="openeuler", rules=RULES, forms=with_dev(FORMS))
