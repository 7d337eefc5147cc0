"""graph.tags.conventions: tag conventions generate tags from (kind, attrs, dev) and parse them back
exactly."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from graph.errors import StackError
from graph.model import checks
from graph.tags.conventions import CONVENTIONS, KINDS, TagInfo, get_convention

OEEP14_SHAPE = (
    "oe<os>[-dev] | <sdk><sdk_version>-oe<os>[-dev] | "
    "<framework><framework_version>-<sdk><sdk_version>-oe<os>[-dev] | "
    "<app>-<framework><framework_version>-<sdk><sdk_version>-oe<os>[-dev]"
)
NVIDIA_SHAPE = (
    "<cuda_version>-cudnn<cudnn>-<cuda_flavor>-<os_name><os_version> | "
    "<cuda_version>-<cuda_flavor>-<os_name><os_version>"
)
ROCM_SHAPE = (
    "rocm<rocm_version>_<os_name><os_version>_py<python>_pytorch_<framework_version> | "
    "rocm<rocm_version>-<os_name><os_version>-<framework><framework_version>-dev | "
    "rocm<rocm_version>_<os_name><os_version>_py<python> | rocm<rocm_version>-<os_name><os_version>-dev"
)
PAI_SHAPE = (
    "<framework_version>-py<python>-cu<cuda_version>-<os_name><os_version>[-dev] | "
    "<framework_version>-py<python>-<accelerator>-<os_name><os_version>[-dev] | "
    "<framework_version>-gpu-py<python>-cu<cuda_version>-<os_name><os_version>[-dev] | "
    "<framework_version>-<accelerator>-py<python>-<os_name><os_version>[-dev]"
)
PAI_ACCELERATOR = "accelerator must be one of cpu, gpu, mkl-cpu (a CPU build with Intel MKL), e.g. cpu"
EXAMPLE = "template:{app}-{framework}{framework_version}-py{python}"

OE = {"os": "2203sp3"}
OE_SDK = {**OE, "sdk": "cann", "sdk_version": "8.0.RC1"}
OE_FRAMEWORK = {**OE_SDK, "framework": "pytorch", "framework_version": "2.1.0"}
OE_LLM = {**OE_FRAMEWORK, "app": "chatglm6b"}
CUDA = {"cuda_version": "12.2.0", "cuda_flavor": "runtime", "os_name": "ubuntu", "os_version": "20.04"}
ROCM_SDK = {"rocm_version": "5.7", "os_name": "ubuntu", "os_version": "22.04", "python": "3.10"}
ROCM_TORCH = {**ROCM_SDK, "framework": "pytorch", "framework_version": "2.0.1"}
ROCM_TF_DEV = {"rocm_version": "5.7", "os_name": "ubuntu", "os_version": "22.04", "framework": "tensorflow",
               "framework_version": "2.13"}
PAI_CPU = {"framework_version": "2.1.0", "accelerator": "cpu", "python": "3.10", "os_name": "ubuntu",
           "os_version": "22.04"}
PAI_GPU = {**PAI_CPU, "accelerator": "gpu", "cuda_version": "12.1"}
NODE = {"sdk": "cann", "sdk_version": "8.0.RC1", "os": "2203sp3", "framework": "pytorch",
        "framework_version": "2.1.0", "app": "chatglm6b", "python": "3.10", "os_name": "ubuntu",
        "os_version": "22.04", "cuda_flavor": "runtime", "accelerator": "gpu"}


def without(attrs: dict[str, str], key: str) -> dict[str, str]:
    """attrs minus key."""
    return {k: v for k, v in attrs.items() if k != key}


def error_of(call: Callable[..., object], *args: object) -> str:
    """str() of the StackError that call(*args) raises."""
    with pytest.raises(StackError) as caught:
        call(*args)
    return str(caught.value)


# --- TagInfo ------------------------------------------------------------------------------------


def test_tag_info_attrs_are_sorted_read_only_and_compare_with_dicts() -> None:
    info = TagInfo("sdk", {"sdk_version": "8.0.RC1", "os": "2203sp3", "sdk": "cann"}, True)
    assert list(info.attrs) == ["os", "sdk", "sdk_version"]
    assert info.attrs == {"os": "2203sp3", "sdk": "cann", "sdk_version": "8.0.RC1"}
    assert info == TagInfo("sdk", {"sdk": "cann", "os": "2203sp3", "sdk_version": "8.0.RC1"}, True)
    assert info != TagInfo("sdk", {"sdk": "cann", "os": "2203sp3", "sdk_version": "8.0.RC1"}, False)
    assert repr(info.attrs) == "{'os': '2203sp3', 'sdk': 'cann', 'sdk_version': '8.0.RC1'}"
    with pytest.raises(TypeError):
        info.attrs["os"] = "2403lts"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.kind = "os"  # type: ignore[misc]


def test_tag_info_is_hashable_and_copies_its_attrs() -> None:
    attrs = {"os": "2203sp3"}
    info = TagInfo("os", attrs, False)
    attrs["os"] = "2403lts"
    assert info.attrs["os"] == "2203sp3"
    assert len({info, TagInfo("os", {"os": "2203sp3"}, False)}) == 1


# --- get_convention -----------------------------------------------------------------------------


def test_known_conventions() -> None:
    assert CONVENTIONS == ("oeep14", "nvidia", "rocm", "pai", "openeuler")
    assert KINDS == ("os", "sdk", "framework", "tool", "llm")
    assert [get_convention(name).name for name in CONVENTIONS] == list(CONVENTIONS)
    assert get_convention(EXAMPLE).name == EXAMPLE


@pytest.mark.parametrize("spec", ["docker", "", "OEEP14", "template", "oeep14 "])
def test_unknown_convention(spec: str) -> None:
    assert error_of(get_convention, spec) == (
        f"unknown tag convention {spec!r} (use one of oeep14, nvidia, rocm, pai, openeuler or "
        "template:<format>)")


# --- round trips --------------------------------------------------------------------------------

ROUND_TRIPS = [
    ("oeep14", "os", OE, False, "oe2203sp3"),
    ("oeep14", "os", OE, True, "oe2203sp3-dev"),
    ("oeep14", "sdk", OE_SDK, False, "cann8.0.RC1-oe2203sp3"),
    ("oeep14", "sdk", OE_SDK, True, "cann8.0.RC1-oe2203sp3-dev"),
    ("oeep14", "framework", OE_FRAMEWORK, False, "pytorch2.1.0-cann8.0.RC1-oe2203sp3"),
    ("oeep14", "framework", OE_FRAMEWORK, True, "pytorch2.1.0-cann8.0.RC1-oe2203sp3-dev"),
    ("oeep14", "llm", OE_LLM, False, "chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3"),
    ("oeep14", "llm", OE_LLM, True, "chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3-dev"),
    ("oeep14", "tool", OE_LLM, False, "chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3"),
    ("oeep14", "tool", OE_LLM, True, "chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3-dev"),
    ("nvidia", "sdk", CUDA, False, "12.2.0-runtime-ubuntu20.04"),
    ("nvidia", "sdk", {**CUDA, "cudnn": "8"}, False, "12.2.0-cudnn8-runtime-ubuntu20.04"),
    ("nvidia", "sdk", {**CUDA, "cuda_flavor": "devel"}, False, "12.2.0-devel-ubuntu20.04"),
    ("nvidia", "os", {**CUDA, "cuda_flavor": "base"}, False, "12.2.0-base-ubuntu20.04"),
    ("nvidia", "framework", CUDA, False, "12.2.0-runtime-ubuntu20.04"),
    ("nvidia", "tool", CUDA, False, "12.2.0-runtime-ubuntu20.04"),
    ("nvidia", "llm", {**CUDA, "cudnn": "9"}, False, "12.2.0-cudnn9-runtime-ubuntu20.04"),
    ("rocm", "sdk", ROCM_SDK, False, "rocm5.7_ubuntu22.04_py3.10"),
    ("rocm", "sdk", without(ROCM_SDK, "python"), True, "rocm5.7-ubuntu22.04-dev"),
    ("rocm", "framework", ROCM_TORCH, False, "rocm5.7_ubuntu22.04_py3.10_pytorch_2.0.1"),
    ("rocm", "framework", without(ROCM_TORCH, "python"), True, "rocm5.7-ubuntu22.04-pytorch2.0.1-dev"),
    ("rocm", "framework", ROCM_TF_DEV, True, "rocm5.7-ubuntu22.04-tf2.13-dev"),
    ("pai", "framework", PAI_GPU, False, "2.1.0-gpu-py310-cu121-ubuntu22.04"),
    ("pai", "framework", PAI_GPU, True, "2.1.0-gpu-py310-cu121-ubuntu22.04-dev"),
    ("pai", "framework", PAI_CPU, False, "2.1.0-cpu-py310-ubuntu22.04"),
    ("pai", "framework", PAI_CPU, True, "2.1.0-cpu-py310-ubuntu22.04-dev"),
    ("pai", "framework", {**PAI_GPU, "python": "3.9", "cuda_version": "11.8"}, False,
     "2.1.0-gpu-py39-cu118-ubuntu22.04"),
]


@pytest.mark.parametrize(("name", "kind", "attrs", "dev", "tag"), ROUND_TRIPS)
def test_round_trip(name: str, kind: str, attrs: dict[str, str], dev: bool, tag: str) -> None:
    convention = get_convention(name)
    assert convention.generate(kind, attrs, dev) == tag
    assert checks.tag_problem(tag) == ""
    assert convention.parse(tag, kind) == TagInfo(kind, attrs, dev)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dev", [False, True])
def test_template_round_trip(kind: str, dev: bool) -> None:
    convention = get_convention(EXAMPLE)
    attrs = {"app": "chatglm6b", "framework": "pytorch", "framework_version": "2.1.0", "python": "3.10"}
    tag = convention.generate(kind, NODE, dev)
    assert tag == "chatglm6b-pytorch2.1.0-py3.10" + ("-dev" if dev else "")
    assert convention.parse(tag) == TagInfo("", attrs, dev)
    assert convention.parse(tag, kind) == TagInfo(kind, attrs, dev)


def test_extra_attrs_are_ignored() -> None:
    assert get_convention("oeep14").generate("llm", NODE, False) == (
        "chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3"
    )
    assert get_convention("pai").generate("framework", {**NODE, "cuda_version": "12.1"}, True) == (
        "2.1.0-gpu-py310-cu121-ubuntu22.04-dev"
    )
    assert get_convention("pai").generate("framework", {**PAI_CPU, "cuda_version": "12.1"}, False) == (
        "2.1.0-cpu-py310-ubuntu22.04"
    )


# --- oeep14 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "expected"), [
    ("oe2203sp2", TagInfo("os", {"os": "2203sp2"})),
    ("oe2403lts-dev", TagInfo("os", {"os": "2403lts"}, True)),
    ("cann7.0.RC1.alpha002-oe2203sp2",
     TagInfo("sdk", {"sdk": "cann", "sdk_version": "7.0.RC1.alpha002", "os": "2203sp2"})),
    ("pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2",
     TagInfo("framework", {"framework": "pytorch", "framework_version": "2.1.0", "sdk": "cann",
                           "sdk_version": "7.0.RC1.alpha002", "os": "2203sp2"})),
    ("chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3",
     TagInfo("llm", {"app": "chatglm6b", "framework": "pytorch", "framework_version": "2.1.0",
                     "sdk": "cann", "sdk_version": "8.0.RC1", "os": "2203sp3"})),
    ("llama2-mindspore2.2.0-cann7.0.0.beta1-oe2203sp2-dev",
     TagInfo("llm", {"app": "llama2", "framework": "mindspore", "framework_version": "2.2.0",
                     "sdk": "cann", "sdk_version": "7.0.0.beta1", "os": "2203sp2"}, True)),
])
def test_oeep14_parses_published_tags(tag: str, expected: TagInfo) -> None:
    assert get_convention("oeep14").parse(tag) == expected


def test_oeep14_tool_and_llm_share_a_form() -> None:
    oeep14 = get_convention("oeep14")
    tag = oeep14.generate("tool", OE_LLM, False)
    assert oeep14.parse(tag).kind == "llm"
    assert oeep14.parse(tag, "tool").kind == "tool"


@pytest.mark.parametrize(("tag", "kind", "message"), [
    ("8.0.RC1-oe2203sp4", "",
     f"tag '8.0.RC1-oe2203sp4' does not follow oeep14: expected {OEEP14_SHAPE} "
     "('8.0.RC1' should look like <sdk><sdk_version>, e.g. cann8.0.RC1)"),
    ("cann7.0-2203sp2", "",
     f"tag 'cann7.0-2203sp2' does not follow oeep14: expected {OEEP14_SHAPE} "
     "('2203sp2' should look like oe<os>, e.g. oe2203sp3)"),
    ("pytorch2.1.0-oe2203sp2-cann7.0", "",
     f"tag 'pytorch2.1.0-oe2203sp2-cann7.0' does not follow oeep14: expected {OEEP14_SHAPE} "
     "('cann7.0' should look like oe<os>, e.g. oe2203sp3)"),
    ("oe2203sp2", "sdk",
     "tag 'oe2203sp2' does not follow oeep14: expected <sdk><sdk_version>-oe<os>[-dev] "
     "(e.g. cann8.0.RC1-oe2203sp3)"),
    ("oe2203sp2", "llm",
     "tag 'oe2203sp2' does not follow oeep14: expected "
     "<app>-<framework><framework_version>-<sdk><sdk_version>-oe<os>[-dev] "
     "(e.g. chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3)"),
    ("cann8.0.RC1-oe2203sp3", "os",
     "tag 'cann8.0.RC1-oe2203sp3' does not follow oeep14: expected oe<os>[-dev] (e.g. oe2203sp3)"),
    ("Cann8.0-oe2203sp3", "sdk",
     "tag 'Cann8.0-oe2203sp3' does not follow oeep14: expected <sdk><sdk_version>-oe<os>[-dev] "
     "('Cann8.0' should look like <sdk><sdk_version>, e.g. cann8.0.RC1)"),
    ("", "",
     f"tag '' does not follow oeep14: expected {OEEP14_SHAPE} (e.g. oe2203sp3 or cann8.0.RC1-oe2203sp3 or "
     "pytorch2.1.0-cann8.0.RC1-oe2203sp3 or chatglm6b-pytorch2.1.0-cann8.0.RC1-oe2203sp3)"),
])
def test_oeep14_rejects(tag: str, kind: str, message: str) -> None:
    assert error_of(get_convention("oeep14").parse, tag, kind) == message


@pytest.mark.parametrize(("kind", "attrs", "message"), [
    ("sdk", {"sdk": "cann"},
     "oeep14 tag for kind 'sdk' is missing attrs: sdk_version, os "
     "(add them to the node's attrs, e.g. sdk_version: 8.0.RC1, os: 2203sp3)"),
    ("os", {},
     "oeep14 tag for kind 'os' is missing attrs: os (add them to the node's attrs, e.g. os: 2203sp3)"),
    ("sdk", {**OE_SDK, "sdk": "Cann"},
     "oeep14 tag attr 'sdk' has invalid value 'Cann' (sdk must be lower-case letters only, e.g. cann)"),
    ("sdk", {**OE_SDK, "sdk": "cann8"},
     "oeep14 tag attr 'sdk' has invalid value 'cann8' (sdk must be lower-case letters only, e.g. cann)"),
    ("sdk", {**OE_SDK, "sdk_version": "8.0-RC1"},
     "oeep14 tag attr 'sdk_version' has invalid value '8.0-RC1' (sdk_version must be a version starting "
     "with a digit, of letters, digits, '.' and '_' (no '-'), e.g. 8.0.RC1)"),
    ("sdk", {**OE_SDK, "sdk_version": "RC1"},
     "oeep14 tag attr 'sdk_version' has invalid value 'RC1' (sdk_version must be a version starting "
     "with a digit, of letters, digits, '.' and '_' (no '-'), e.g. 8.0.RC1)"),
    ("sdk", {**OE_SDK, "sdk_version": ""},
     "oeep14 tag attr 'sdk_version' is empty (set sdk_version to a version starting "
     "with a digit, of letters, digits, '.' and '_' (no '-'), e.g. 8.0.RC1)"),
    ("llm", {**OE_LLM, "app": "chat-glm"},
     "oeep14 tag attr 'app' has invalid value 'chat-glm' "
     "(app must be lower-case letters and digits, words joined by '_', e.g. chatglm6b)"),
    ("os", {"os": "sp2"},
     "oeep14 tag attr 'os' has invalid value 'sp2' "
     "(os must be an openEuler version: digits, then lower-case letters and digits, e.g. 2203sp3)"),
    ("os", {"os": "22.03"},
     "oeep14 tag attr 'os' has invalid value '22.03' "
     "(os must be an openEuler version: digits, then lower-case letters and digits, e.g. 2203sp3)"),
    ("model", OE, "unknown kind 'model' (use one of os, sdk, framework, tool, llm)"),
])
def test_oeep14_generate_errors(kind: str, attrs: dict[str, str], message: str) -> None:
    assert error_of(get_convention("oeep14").generate, kind, attrs, False) == message


# --- nvidia -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "expected"), [
    ("12.2.0-runtime-ubuntu20.04",
     TagInfo("sdk", {"cuda_version": "12.2.0", "cuda_flavor": "runtime", "os_name": "ubuntu",
                     "os_version": "20.04"})),
    ("12.2.0-cudnn8-runtime-ubuntu22.04",
     TagInfo("sdk", {"cuda_version": "12.2.0", "cudnn": "8", "cuda_flavor": "runtime", "os_name": "ubuntu",
                     "os_version": "22.04"})),
    ("11.8.0-devel-ubi8",
     TagInfo("sdk", {"cuda_version": "11.8.0", "cuda_flavor": "devel", "os_name": "ubi", "os_version": "8"})),
    ("12.4.1-base-rockylinux9",
     TagInfo("sdk", {"cuda_version": "12.4.1", "cuda_flavor": "base", "os_name": "rockylinux",
                     "os_version": "9"})),
])
def test_nvidia_parses_published_tags(tag: str, expected: TagInfo) -> None:
    assert get_convention("nvidia").parse(tag) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_nvidia_has_no_dev_tags(kind: str) -> None:
    assert error_of(get_convention("nvidia").generate, kind, CUDA, True) == (
        f"nvidia has no -dev tag for kind {kind!r} "
        "(nvidia expresses dev as cuda_flavor=devel: set attrs.cuda_flavor to devel; "
        "list the node in dev.except)"
    )


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.generate("sdk", {**CUDA, "cuda_flavor": "full"}, False),
     "nvidia tag attr 'cuda_flavor' has invalid value 'full' "
     "(cuda_flavor must be one of base, runtime, devel, e.g. runtime)"),
    (lambda c: c.generate("sdk", {**CUDA, "cudnn": "v8"}, False),
     "nvidia tag attr 'cudnn' has invalid value 'v8' "
     "(cudnn must be digits (the cuDNN major version), e.g. 8)"),
    (lambda c: c.generate("sdk", {**CUDA, "cuda_version": "12.2-0"}, False),
     "nvidia tag attr 'cuda_version' has invalid value '12.2-0' "
     "(cuda_version must be a dotted version of digits, e.g. 12.2.0)"),
    (lambda c: c.generate("sdk", {"cuda_version": "12.2.0", "cuda_flavor": "runtime", "os_name": "ubuntu"},
                          False),
     "nvidia tag for kind 'sdk' is missing attrs: os_version "
     "(add them to the node's attrs, e.g. os_version: 22.04)"),
    (lambda c: c.parse("12.2.0-dev-ubuntu22.04"),
     f"tag '12.2.0-dev-ubuntu22.04' does not follow nvidia: expected {NVIDIA_SHAPE} "
     "('dev' should look like <cuda_flavor>, e.g. runtime)"),
    (lambda c: c.parse("12.2.0-cudnn-runtime-ubuntu22.04"),
     f"tag '12.2.0-cudnn-runtime-ubuntu22.04' does not follow nvidia: expected {NVIDIA_SHAPE} "
     "('cudnn' should look like cudnn<cudnn>, e.g. cudnn8)"),
    (lambda c: c.parse("12.2.0-runtime-ubuntu22.04-dev"),
     f"tag '12.2.0-runtime-ubuntu22.04-dev' does not follow nvidia: expected {NVIDIA_SHAPE} "
     "('runtime' should look like cudnn<cudnn>, e.g. cudnn8)"),
])
def test_nvidia_rejects(call: object, message: str) -> None:
    assert error_of(call, get_convention("nvidia")) == message


# --- rocm ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "expected"), [
    ("rocm5.7_ubuntu22.04_py3.10_pytorch_2.0.1",
     TagInfo("framework", {"rocm_version": "5.7", "os_name": "ubuntu", "os_version": "22.04",
                           "python": "3.10", "framework": "pytorch", "framework_version": "2.0.1"})),
    ("rocm5.7-ubuntu22.04-tf2.13-dev",
     TagInfo("framework", {"rocm_version": "5.7", "os_name": "ubuntu", "os_version": "22.04",
                           "framework": "tensorflow", "framework_version": "2.13"}, True)),
    ("rocm6.0.2_ubuntu20.04_py3.9",
     TagInfo("sdk", {"rocm_version": "6.0.2", "os_name": "ubuntu", "os_version": "20.04", "python": "3.9"})),
])
def test_rocm_parses_published_tags(tag: str, expected: TagInfo) -> None:
    assert get_convention("rocm").parse(tag) == expected


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.generate("framework", {**ROCM_TF_DEV, "python": "3.10"}, False),
     "rocm tag attr 'framework' has invalid value 'tensorflow' "
     "(framework must be pytorch for a framework tag)"),
    (lambda c: c.generate("framework", {**ROCM_TF_DEV, "framework": "jax"}, True),
     "rocm tag attr 'framework' has invalid value 'jax' "
     "(framework must be pytorch or tensorflow, e.g. pytorch)"),
    (lambda c: c.generate("framework", {**ROCM_TORCH, "python": "3"}, False),
     "rocm tag attr 'python' has invalid value '3' (python must be major.minor digits, e.g. 3.10)"),
    (lambda c: c.generate("framework", {**ROCM_TORCH, "framework_version": "2.0_1"}, False),
     "rocm tag attr 'framework_version' has invalid value '2.0_1' "
     "(framework_version must be a version starting with a digit, of letters, digits and '.', e.g. 2.0.1)"),
    (lambda c: c.generate("llm", ROCM_TORCH, False),
     "rocm has no tag form for kind 'llm' "
     "(rocm covers sdk, framework; use another convention (e.g. template:<format>) for this node)"),
    (lambda c: c.parse("x", "os"),
     "rocm has no tag form for kind 'os' "
     "(rocm covers sdk, framework; use another convention (e.g. template:<format>) for this node)"),
    (lambda c: c.parse("rocm5.7-ubuntu22.04-jax0.4-dev"),
     f"tag 'rocm5.7-ubuntu22.04-jax0.4-dev' does not follow rocm: expected {ROCM_SHAPE} "
     "('jax0.4' should look like <framework><framework_version>, e.g. pytorch2.0.1)"),
    (lambda c: c.parse("rocm5.7_ubuntu22.04_py3.10_tf_2.13", "framework"),
     "tag 'rocm5.7_ubuntu22.04_py3.10_tf_2.13' does not follow rocm: expected "
     "rocm<rocm_version>_<os_name><os_version>_py<python>_pytorch_<framework_version> | "
     "rocm<rocm_version>-<os_name><os_version>-<framework><framework_version>-dev "
     "(e.g. rocm5.7_ubuntu22.04_py3.10_pytorch_2.0.1 or rocm5.7-ubuntu22.04-pytorch2.0.1-dev)"),
])
def test_rocm_rejects(call: object, message: str) -> None:
    assert error_of(call, get_convention("rocm")) == message


# --- pai ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "expected"), [
    ("2.1.0-gpu-py310-cu121-ubuntu22.04", TagInfo("framework", PAI_GPU)),
    ("2.1.0-cpu-py310-ubuntu22.04", TagInfo("framework", PAI_CPU)),
    ("2.1.0-cpu-py310-ubuntu22.04-dev", TagInfo("framework", PAI_CPU, True)),
    ("1.15.5-gpu-py36-cu100-ubuntu18.04",
     TagInfo("framework", {"framework_version": "1.15.5", "accelerator": "gpu", "python": "3.6",
                           "cuda_version": "10.0", "os_name": "ubuntu", "os_version": "18.04"})),
])
def test_pai_parses_published_tags(tag: str, expected: TagInfo) -> None:
    assert get_convention("pai").parse(tag) == expected


def test_pai_cuda_patch_version_is_dropped() -> None:
    pai = get_convention("pai")
    tag = pai.generate("framework", {**PAI_GPU, "cuda_version": "12.1.1"}, False)
    assert tag == "2.1.0-gpu-py310-cu121-ubuntu22.04"
    assert pai.parse(tag).attrs["cuda_version"] == "12.1"


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.generate("framework", {**PAI_CPU, "accelerator": "tpu"}, False),
     f"pai tag attr 'accelerator' has invalid value 'tpu' ({PAI_ACCELERATOR})"),
    (lambda c: c.generate("framework", {**PAI_CPU, "accelerator": "tpu"}, True),
     f"pai tag attr 'accelerator' has invalid value 'tpu' ({PAI_ACCELERATOR})"),
    (lambda c: c.generate("framework", {**PAI_CPU, "accelerator": "tpu", "scope": "inference"}, False),
     f"pai tag attr 'accelerator' has invalid value 'tpu' ({PAI_ACCELERATOR})"),
    (lambda c: c.generate("framework", without(PAI_CPU, "accelerator"), False),
     "pai tag for kind 'framework' is missing attrs: accelerator "
     "(add them to the node's attrs, e.g. accelerator: cpu)"),
    (lambda c: c.generate("framework", {**PAI_GPU, "cuda_version": "12"}, False),
     "pai tag attr 'cuda_version' has invalid value '12' "
     "(cuda_version must be major.minor[.patch] with a one-digit minor, e.g. 12.1)"),
    (lambda c: c.generate("framework", {**PAI_CPU, "python": "310"}, False),
     "pai tag attr 'python' has invalid value '310' "
     "(python must be major.minor with a one-digit major, e.g. 3.10)"),
    (lambda c: c.generate("sdk", PAI_CPU, False),
     "pai has no tag form for kind 'sdk' "
     "(pai covers framework; use another convention (e.g. template:<format>) for this node)"),
    (lambda c: c.parse("2.1.0-tpu-py310-ubuntu22.04"),
     f"tag '2.1.0-tpu-py310-ubuntu22.04' does not follow pai: expected {PAI_SHAPE} "
     "('tpu' should look like <accelerator>, e.g. cpu)"),
    (lambda c: c.parse("2.1.0-cpu-mkl-py310-ubuntu22.04"),
     f"tag '2.1.0-cpu-mkl-py310-ubuntu22.04' does not follow pai: expected {PAI_SHAPE} "
     "(e.g. 2.1.0-py310-cu121-ubuntu22.04 or 2.1.0-py310-cpu-ubuntu22.04 or "
     "2.1.0-gpu-py310-cu121-ubuntu22.04 or 2.1.0-cpu-py310-ubuntu22.04)"),
    (lambda c: c.parse("2.1.0-cpu-py3.10-ubuntu22.04"),
     f"tag '2.1.0-cpu-py3.10-ubuntu22.04' does not follow pai: expected {PAI_SHAPE} "
     "('py3.10' should look like py<python>, e.g. py310)"),
    (lambda c: c.parse("2.1.0-gpu-py310-cu1-ubuntu22.04"),
     f"tag '2.1.0-gpu-py310-cu1-ubuntu22.04' does not follow pai: expected {PAI_SHAPE} "
     "('cu1' should look like cu<cuda_version>, e.g. cu121)"),
])
def test_pai_rejects(call: object, message: str) -> None:
    assert error_of(call, get_convention("pai")) == message


# --- templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    ("template:", "template '' has no {attr} placeholder (e.g. template:{app}-py{python})"),
    ("template:latest", "template 'latest' has no {attr} placeholder (e.g. template:{app}-py{python})"),
    ("template:{app", "template '{app' has unbalanced braces (write each placeholder as {attr})"),
    ("template:app}", "template 'app}' has unbalanced braces (write each placeholder as {attr})"),
    ("template:{a}}", "template '{a}}' has unbalanced braces (write each placeholder as {attr})"),
    ("template:{{a}}", "template '{{a}}' has unbalanced braces (write each placeholder as {attr})"),
    ("template:{}", "template placeholder {} is not an attr name "
                    "(use {attr} with letters, digits and '_' only (no positions, no format specs))"),
    ("template:{0}-x", "template placeholder {0} is not an attr name "
                       "(use {attr} with letters, digits and '_' only (no positions, no format specs))"),
    ("template:{a:>3}", "template placeholder {a:>3} is not an attr name "
                        "(use {attr} with letters, digits and '_' only (no positions, no format specs))"),
    ("template:a:{b}", "template text 'a:' has characters not allowed in tags "
                       "(use only letters, digits, '_', '.' and '-' between placeholders)"),
    ("template:{a} {b}", "template text ' ' has characters not allowed in tags "
                         "(use only letters, digits, '_', '.' and '-' between placeholders)"),
    ("template:{sdk}{os}", "template placeholders {sdk}{os} touch, so a tag could not be split back "
                           "(put text such as '-' between them, or make the second a *version "
                           "(starts with a digit))"),
])
def test_bad_templates(spec: str, message: str) -> None:
    assert error_of(get_convention, spec) == message


def test_template_parses_with_literal_text_escaped() -> None:
    convention = get_convention("template:v{version}.x-{app}")
    assert convention.generate("llm", {"version": "1.2", "app": "qwen7b"}, False) == "v1.2.x-qwen7b"
    assert convention.parse("v1.2.x-qwen7b") == TagInfo("", {"version": "1.2", "app": "qwen7b"})
    assert error_of(convention.parse, "v1.2Xx-qwen7b") == (
        "tag 'v1.2Xx-qwen7b' does not follow template:v{version}.x-{app}: expected v<version>.x-<app>[-dev] "
        "('v1.2Xx' should look like v<version>.x, e.g. v1.0.x)"
    )


def test_template_repeated_placeholder_must_repeat_its_value() -> None:
    convention = get_convention("template:{a}-{a}")
    assert convention.generate("os", {"a": "x"}, False) == "x-x"
    assert convention.parse("x-x") == TagInfo("", {"a": "x"})
    assert error_of(convention.parse, "x-y") == (
        "tag 'x-y' does not follow template:{a}-{a}: expected <a>-<a>[-dev] (e.g. x-x)"
    )


def test_template_with_literal_dev_keeps_the_dev_flag_apart() -> None:
    convention = get_convention("template:{app}-dev")
    assert convention.generate("llm", {"app": "x"}, False) == "x-dev"
    assert convention.generate("llm", {"app": "x"}, True) == "x-dev-dev"
    assert convention.parse("x-dev") == TagInfo("", {"app": "x"}, False)
    assert convention.parse("x-dev-dev") == TagInfo("", {"app": "x"}, True)


def test_template_versions_may_follow_a_placeholder() -> None:
    convention = get_convention("template:{name}{version}")
    assert convention.generate("llm", {"name": "llama", "version": "2"}, False) == "llama2"
    assert convention.parse("qwen1.5") == TagInfo("", {"name": "qwen", "version": "1.5"})


@pytest.mark.parametrize(("spec", "attrs", "message"), [
    ("template:{name}{version}", {"name": "llama2", "version": "7"},
     "tag 'llama27' would parse back as {'name': 'llama', 'version': '27'}, "
     "not {'name': 'llama2', 'version': '7'} "
     "(separate the placeholders of the template with literal text such as '-')"),
    ("template:{a}.{b}", {"a": "x.y", "b": "z"},
     "tag 'x.y.z' would parse back as {'a': 'x', 'b': 'y.z'}, not {'a': 'x.y', 'b': 'z'} "
     "(separate the placeholders of the template with literal text such as '-')"),
    ("template:{a}.{b}", {"a": "x-y", "b": "z"},
     "template:{a}.{b} tag attr 'a' has invalid value 'x-y' "
     "(a must be letters, digits, '.' or '_' (no '-'), e.g. x)"),
    ("template:{a}.{b}", {"a": "x", "b": ""},
     "template:{a}.{b} tag attr 'b' is empty (set b to letters, digits, '.' or '_' (no '-'), e.g. x)"),
    ("template:{a}.{b}", {"a": "x"},
     "template:{a}.{b} tag for kind 'llm' is missing attrs: b (add them to the node's attrs, e.g. b: x)"),
    ("template:{name}{version}", {"name": "llama", "version": "v2"},
     "template:{name}{version} tag attr 'version' has invalid value 'v2' (version must be a version starting "
     "with a digit, of letters, digits, '.' and '_' (no '-'), e.g. 1.0)"),
    ("template:{a}", {"a": "x" * 129},
     f"template:{{a}} made an invalid tag: tag '{'x' * 129}' is not a valid OCI tag "
     "(allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) "
     "(a tag is at most 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-')"),
    ("template:.{a}", {"a": "x"},
     "template:.{a} made an invalid tag: tag '.x' is not a valid OCI tag "
     "(allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) "
     "(a tag is at most 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-')"),
])
def test_template_generate_errors(spec: str, attrs: dict[str, str], message: str) -> None:
    assert error_of(get_convention(spec).generate, "llm", attrs, False) == message


def test_template_accepts_the_longest_tag() -> None:
    convention = get_convention("template:{a}")
    assert convention.generate("llm", {"a": "x" * 124}, True) == "x" * 124 + "-dev"
    assert error_of(convention.generate, "llm", {"a": "x" * 125}, True).startswith(
        "template:{a} made an invalid tag: tag 'xxxx"
    )


def test_template_parse_errors() -> None:
    convention = get_convention(EXAMPLE)
    assert error_of(convention.parse, "chatglm6b-pytorch-py3.10") == (
        "tag 'chatglm6b-pytorch-py3.10' does not follow "
        "template:{app}-{framework}{framework_version}-py{python}: "
        "expected <app>-<framework><framework_version>-py<python>[-dev] "
        "('pytorch' should look like <framework><framework_version>, e.g. x1.0)"
    )
    assert error_of(convention.parse, "x", "model") == (
        "unknown kind 'model' (use one of os, sdk, framework, tool, llm)"
    )


# --- required -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind", "dev", "required"), [
    ("oeep14", "os", False, ("os",)),
    ("oeep14", "sdk", True, ("sdk", "sdk_version", "os")),
    ("oeep14", "framework", False, ("framework", "framework_version", "sdk", "sdk_version", "os")),
    ("oeep14", "tool", False, ("app", "framework", "framework_version", "sdk", "sdk_version", "os")),
    ("nvidia", "sdk", False, ("cuda_version", "cuda_flavor", "os_name", "os_version")),
    ("rocm", "sdk", False, ("rocm_version", "os_name", "os_version", "python")),
    ("rocm", "framework", False,
     ("rocm_version", "os_name", "os_version", "python", "framework_version", "framework")),
    ("rocm", "framework", True, ("rocm_version", "os_name", "os_version", "framework", "framework_version")),
    ("pai", "framework", False, ("framework_version", "python", "os_name", "os_version", "accelerator")),
    (EXAMPLE, "llm", False, ("app", "framework", "framework_version", "python")),
])
def test_required(name: str, kind: str, dev: bool, required: tuple[str, ...]) -> None:
    assert get_convention(name).required(kind, dev) == required


def test_required_errors() -> None:
    assert error_of(get_convention("nvidia").required, "sdk", True) == (
        "nvidia has no -dev tag for kind 'sdk' "
        "(nvidia expresses dev as cuda_flavor=devel: set attrs.cuda_flavor to devel; "
        "list the node in dev.except)"
    )
    assert error_of(get_convention("pai").required, "os") == (
        "pai has no tag form for kind 'os' "
        "(pai covers framework; use another convention (e.g. template:<format>) for this node)"
    )

