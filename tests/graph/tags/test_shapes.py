"""Every shape of every named convention as tables: round trips, the orders that are only read, the oEEP-0014
examples of ../shared/seeds, fields told apart by known names, PAI's repository names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graph.errors import StackError
from graph.tags.conventions import NAMED, get_convention
from graph.tags.model import TagInfo
from graph.tags.names import FRAMEWORKS, SDKS, misread, role_of

SEEDS = Path(__file__).resolve().parents[3].parent / "shared" / "seeds"

OE = {"os": "2203sp2"}
CANN = {**OE, "sdk": "cann", "sdk_version": "7.0.RC1.alpha002"}
TORCH = {**CANN, "framework": "pytorch", "framework_version": "2.1.0"}
GLM = {**TORCH, "app": "chatglm6b"}
MS = {"os": "2403lts", "sdk": "cann", "sdk_version": "8.0.RC1", "framework": "mindspore",
      "framework_version": "2.3.0"}
CUDA = {"cuda_version": "12.2.0", "cuda_flavor": "runtime", "os_name": "ubuntu", "os_version": "20.04"}
ROCM = {"rocm_version": "5.7", "os_name": "ubuntu", "os_version": "22.04"}
PAI = {"framework_version": "2.1", "python": "3.10", "os_name": "ubuntu", "os_version": "22.04"}
INFER = {**PAI, "scope": "inference"}
OE_PY = {"sdk_version": "8.1.RC1", "python": "3.11", "os": "2403lts"}
OE_TORCH = {"framework_version": "2.2.0", "sdk": "cann", "sdk_version": "8.0.RC1", "os": "2203sp4"}

# (convention, kind, attrs, dev, tag): one or more rows per canonical form, -dev forms included
SHAPES = [
    ("oeep14", "os", OE, False, "oe2203sp2"),
    ("oeep14", "os", OE, True, "oe2203sp2-dev"),
    ("oeep14", "sdk", CANN, False, "cann7.0.RC1.alpha002-oe2203sp2"),
    ("oeep14", "sdk", CANN, True, "cann7.0.RC1.alpha002-oe2203sp2-dev"),
    ("oeep14", "framework", TORCH, False, "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2"),
    ("oeep14", "framework", TORCH, True, "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2-dev"),
    ("oeep14", "framework", MS, False, "mindspore2.3.0-cann8.0.RC1-oe2403lts"),
    ("oeep14", "llm", GLM, False, "chatglm6b-pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2"),
    ("oeep14", "llm", GLM, True, "chatglm6b-pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2-dev"),
    ("nvidia", "sdk", CUDA, False, "12.2.0-runtime-ubuntu20.04"),
    ("nvidia", "sdk", {**CUDA, "cudnn": "8"}, False, "12.2.0-cudnn8-runtime-ubuntu20.04"),
    ("rocm", "framework", {**ROCM, "python": "3.10", "framework": "pytorch", "framework_version": "2.0.1"},
     False, "rocm5.7_ubuntu22.04_py3.10_pytorch_2.0.1"),
    ("rocm", "framework", {**ROCM, "framework": "tensorflow", "framework_version": "2.13"}, True,
     "rocm5.7-ubuntu22.04-tf2.13-dev"),
    ("rocm", "sdk", {**ROCM, "python": "3.10"}, False, "rocm5.7_ubuntu22.04_py3.10"),
    ("rocm", "sdk", ROCM, True, "rocm5.7-ubuntu22.04-dev"),
    # pai training: the accelerator before the Python version
    ("pai", "framework", {**PAI, "accelerator": "gpu", "cuda_version": "12.1"}, False,
     "2.1-gpu-py310-cu121-ubuntu22.04"),
    ("pai", "framework", {**PAI, "accelerator": "gpu", "cuda_version": "12.1"}, True,
     "2.1-gpu-py310-cu121-ubuntu22.04-dev"),
    ("pai", "framework", {**PAI, "framework_version": "2.3", "python": "3.6", "os_version": "18.04",
                          "accelerator": "cpu"}, False, "2.3-cpu-py36-ubuntu18.04"),
    ("pai", "framework", {**PAI, "framework_version": "1.15", "python": "3.6", "os_version": "18.04",
                          "accelerator": "mkl-cpu"}, False, "1.15-mkl-cpu-py36-ubuntu18.04"),
    ("pai", "framework", {**PAI, "framework_version": "1.12", "python": "3.6", "os_version": "18.04",
                          "accelerator": "gpu"}, False, "1.12-gpu-py36-ubuntu18.04"),  # older: no CUDA
    ("pai", "framework", {**PAI, "accelerator": "cpu"}, True, "2.1-cpu-py310-ubuntu22.04-dev"),
    # pai inference: the Python version before the accelerator (scope: inference picks these)
    ("pai", "framework", {**INFER, "accelerator": "gpu", "cuda_version": "12.1"}, False,
     "2.1-py310-cu121-ubuntu22.04"),
    ("pai", "framework", {**INFER, "accelerator": "gpu", "cuda_version": "12.1"}, True,
     "2.1-py310-cu121-ubuntu22.04-dev"),
    ("pai", "framework", {**INFER, "framework_version": "2.13", "accelerator": "cpu"}, False,
     "2.13-py310-cpu-ubuntu22.04"),
    ("pai", "framework", {**INFER, "accelerator": "mkl-cpu"}, False, "2.1-py310-mkl-cpu-ubuntu22.04"),
    ("pai", "framework", {**INFER, "accelerator": "cpu"}, True, "2.1-py310-cpu-ubuntu22.04-dev"),
    ("pai", "framework", {**INFER, "accelerator": "gpu"}, False, "2.1-py310-gpu-ubuntu22.04"),
    # openeuler: openEuler's published tags (graph/tags/openeuler.py), each form and its -dev sibling
    *[("openeuler", kind, attrs, dev, tag + ("-dev" if dev else "")) for kind, attrs, tag in [
        ("sdk", {"sdk_version": "11.8.0", "cudnn": "8.9.0", "os": "2203lts"}, "11.8.0-cudnn8.9.0-oe2203lts"),
        ("sdk", {**OE_PY, "tag_python": "yes"}, "8.1.RC1-python3.11-oe2403lts"),
        ("sdk", {"sdk_version": "8.0.RC1", "os": "2203sp4"}, "8.0.RC1-oe2203sp4"),
        ("framework", {**OE_TORCH, "framework": "pytorch", "tag_framework": "yes"},
         "pytorch2.2.0-cann8.0.RC1-oe2203sp4"),
        ("framework", OE_TORCH, "2.2.0-cann8.0.RC1-oe2203sp4"),
        ("llm", {**OE_TORCH, "framework": "pytorch", "app": "chatglm2_6b"},
         "chatglm2_6b-pytorch2.2.0-cann8.0.RC1-oe2203sp4"),
        ("tool", {**OE_PY, "app_version": "0.9.1rc1", "framework": "torch_npu", "framework_version": "2.5.1",
                  "sdk": "cann", "sdk_version": "8.1.rc1"},
         "0.9.1rc1-torch_npu2.5.1-cann8.1.rc1-python3.11-oe2403lts"),
        ("tool", {"app_version": "1.0.0", "framework": "torch", "framework_version": "2.9.0",
                  "python": "3.11", "os": "2403sp4"}, "1.0.0-torch2.9.0-python3.11-oe2403sp4"),
        ("os", {"os_release": "24.03-lts-sp4"}, "24.03-lts-sp4"),
    ] for dev in (False, True)],
]
# openeuler's application tag <app_version>-oe<os> has the shape of its SDK tag <sdk_version>-oe<os>:
# only its kind tells them apart (read without a kind, it is an SDK tag)
KINDED = [("openeuler", "tool", {"app_version": "2.17.1", "os": "2203sp4"}, dev, "2.17.1-oe2203sp4" + suffix)
          for dev, suffix in ((False, ""), (True, "-dev"))]


@pytest.mark.parametrize(("name", "kind", "attrs", "dev", "tag"), SHAPES)
def test_generate_parse_generate_round_trip(name: str, kind: str, attrs: dict[str, str], dev: bool,
                                            tag: str) -> None:
    convention = get_convention(name)
    assert convention.generate(kind, attrs, dev) == tag
    info = convention.parse(tag)
    assert info == TagInfo(kind, attrs, dev)
    assert convention.parse(tag, kind) == info
    assert convention.generate(kind, info.attrs, info.dev) == tag
    assert convention.canonical(tag) == tag


@pytest.mark.parametrize(("name", "kind", "attrs", "dev", "tag"), KINDED)
def test_a_tag_only_its_kind_tells_apart_round_trips_with_it(name: str, kind: str, attrs: dict[str, str],
                                                             dev: bool, tag: str) -> None:
    convention = get_convention(name)
    assert convention.generate(kind, attrs, dev) == tag
    assert convention.parse(tag, kind) == TagInfo(kind, attrs, dev)
    assert convention.parse(tag).kind == "sdk"
    assert convention.canonical(tag, kind) == tag


@pytest.mark.parametrize("scheme", list(NAMED))
def test_every_canonical_form_has_a_row(scheme: str) -> None:
    forms = {form.template for form in NAMED[scheme].forms if form.canonical}
    covered = {NAMED[name].form_of(tag, kind).template for name, kind, _, _, tag in [*SHAPES, *KINDED]
               if name == scheme}
    assert forms - covered == set()


def test_a_pai_node_gets_the_inference_shape_only_with_scope_inference() -> None:
    pai = get_convention("pai")
    gpu = {**PAI, "accelerator": "gpu", "cuda_version": "12.1"}
    assert pai.generate("framework", gpu, False) == "2.1-gpu-py310-cu121-ubuntu22.04"
    assert pai.generate("framework", {**gpu, "scope": "training"}, False) == "2.1-gpu-py310-cu121-ubuntu22.04"
    assert pai.generate("framework", {**gpu, "scope": "inference"}, False) == "2.1-py310-cu121-ubuntu22.04"


# --- orders that are read but never written ------------------------------------------------------

# (tag, kind and attrs it says, the canonical tag lint names)
OUT_OF_ORDER = [
    ("cann7.0.RC1.alpha002-pytorch2.1.0-oe2203sp2", TagInfo("framework", TORCH),
     "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2"),
    ("cann7.0.RC1.alpha002-pytorch2.1.0-oe2203sp2-dev", TagInfo("framework", TORCH, True),
     "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2-dev"),
    ("chatglm6b-cann7.0.RC1.alpha002-pytorch2.1.0-oe2203sp2", TagInfo("llm", GLM),
     "chatglm6b-pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2"),
    ("llama2-cuda12.1-paddle2.6.0-oe2403lts-dev",
     TagInfo("llm", {"app": "llama2", "sdk": "cuda", "sdk_version": "12.1", "framework": "paddle",
                     "framework_version": "2.6.0", "os": "2403lts"}, True),
     "llama2-paddle2.6.0-cuda12.1-oe2403lts-dev"),
]


@pytest.mark.parametrize(("tag", "info", "canonical"), OUT_OF_ORDER)
def test_the_sdk_before_the_framework_is_read_by_name(tag: str, info: TagInfo, canonical: str) -> None:
    oeep14 = get_convention("oeep14")
    assert oeep14.parse(tag) == info
    assert oeep14.parse(tag, info.kind) == info
    assert not NAMED["oeep14"].form_of(tag).canonical
    assert oeep14.canonical(tag) == canonical
    assert oeep14.generate(info.kind, info.attrs, info.dev) == canonical
    assert oeep14.parse(canonical) == info


def test_unknown_names_are_read_by_position() -> None:
    info = get_convention("oeep14").parse("foo1.0-bar2.0-oe2203sp2")
    assert (info.attrs["framework"], info.attrs["sdk"]) == ("foo", "bar")


def test_a_tag_with_two_sdks_names_the_misread_field() -> None:
    with pytest.raises(StackError) as caught:
        get_convention("oeep14").parse("chatglm6b-cann7.0-cuda12.1-oe2203sp2")
    assert caught.value.hint == "'cann' is a known sdk name, not a framework"


@pytest.mark.parametrize(("attrs", "message"), [
    ({**TORCH, "framework": "cann", "sdk": "pytorch"},
     f"oeep14 tag attr 'sdk' is 'pytorch', a known framework name (put pytorch in framework, and in sdk one "
     f"of {', '.join(SDKS)} (or another sdk name))"),
    ({**TORCH, "framework": "cuda"},
     f"oeep14 tag attr 'framework' is 'cuda', a known sdk name (put cuda in sdk, and in framework one of "
     f"{', '.join(FRAMEWORKS)} (or another framework name))"),
])
def test_generate_refuses_a_known_name_in_the_wrong_field(attrs: dict[str, str], message: str) -> None:
    with pytest.raises(StackError) as caught:
        get_convention("oeep14").generate("framework", attrs, False)
    assert str(caught.value) == message


@pytest.mark.parametrize(("name", "role"), [("cann", "sdk"), ("cuda", "sdk"), ("rocm", "sdk"), ("cpu", "sdk"),
                                            ("pytorch", "framework"), ("tensorflow", "framework"),
                                            ("mindspore", "framework"), ("paddle", "framework"),
                                            ("chatglm6b", ""), ("", "")])
def test_role_of_known_names(name: str, role: str) -> None:
    assert role_of(name) == role


def test_misread_names_the_first_field_holding_the_other_roles_name() -> None:
    assert misread({"framework": "pytorch", "sdk": "cann"}) is None
    assert misread({"framework": "cann", "sdk": "pytorch"}) == ("sdk", "pytorch")
    assert misread({"framework": "cann", "sdk": "x"}) == ("framework", "cann")
    assert misread({"framework": "x", "sdk": "y"}) is None


# --- the oEEP-0014 examples (../shared/seeds) ----------------------------------------------------

SEED_EXAMPLES = {
    "cann7.0.RC1.alpha002-oe2203sp2": TagInfo("sdk", CANN),
    "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2": TagInfo("framework", TORCH),
    "chatglm6b-cann7.0.RC1.alpha002-pytorch2.1.0-oe2203sp2": TagInfo("llm", GLM),
    "pytorch2.1.0-cann7.0.RC1.alpha002-oe2203sp2-dev": TagInfo("framework", TORCH, True),
}


@pytest.mark.parametrize(("tag", "info"), SEED_EXAMPLES.items())
def test_the_oeep14_examples_parse_with_the_right_field_for_each_part(tag: str, info: TagInfo) -> None:
    parsed = get_convention("oeep14").parse(tag)
    assert parsed == info
    for part in tag.removesuffix("-dev").split("-"):
        assert any(part in (parsed.attrs.get(name, ""), "oe" + parsed.attrs["os"],
                            parsed.attrs.get(name, "") + parsed.attrs.get(name + "_version", ""))
                   for name in ("app", "sdk", "framework"))


def test_the_table_holds_every_oeep14_example_of_the_seed() -> None:
    seed = next(SEEDS.glob("000_*.txt"), None) if SEEDS.is_dir() else None
    if seed is None:
        pytest.skip(f"no oEEP-0014 text in {SEEDS}")
    found = set(re.findall(r"[a-z][A-Za-z0-9.]*(?:-[A-Za-z0-9.]+)*-oe[0-9]{4}[a-z0-9]*(?:-dev)?",
                           seed.read_text(encoding="utf-8")))
    assert found == set(SEED_EXAMPLES)


# --- PAI repositories ----------------------------------------------------------------------------


@pytest.mark.parametrize(("repository", "attrs"), [
    ("registry.cn-beijing.aliyuncs.com/pai-dlc/tensorflow-training", {"framework": "tensorflow",
                                                                       "scope": "training"}),
    ("localhost:5000/pai/pytorch-inference", {"framework": "pytorch", "scope": "inference"}),
    ("pytorch-inference", {"framework": "pytorch", "scope": "inference"}),
    ("localhost:5000/pai/pytorch", {}),
    ("localhost:5000/pai/pytorch-serving", {}),
])
def test_pai_reads_framework_and_scope_from_the_repository(repository: str, attrs: dict[str, str]) -> None:
    assert get_convention("pai").repository_attrs(repository) == attrs


@pytest.mark.parametrize("name", ["oeep14", "nvidia", "rocm", "template:{app}-{framework}"])
def test_other_conventions_read_nothing_from_the_repository(name: str) -> None:
    assert get_convention(name).repository_attrs("r/pytorch-training") == {}
