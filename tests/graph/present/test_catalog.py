"""graph.present.catalog: records from labels or tags, filters, `latest`, the best match and the
no-match error."""

from __future__ import annotations

import pytest

from graph.errors import GraphError, StackError
from graph.present.catalog import (
    FILTERS,
    ImageRecord,
    NoImageMatches,
    Query,
    available,
    best,
    query_of,
    record_of,
    select,
)

PLATFORMS = ("linux/amd64", "linux/arm64")


def image(tag: str, framework: str = "", version: str = "", *, sdk: str = "cpu", sdk_version: str = "",
          layer: str = "framework", scope: str = "training", variant: str = "", accelerator: str = "cpu",
          python: str = "3.11", platforms: tuple[str, ...] = PLATFORMS, created: str = "") -> ImageRecord:
    return ImageRecord(f"r.example/x/img:{tag}", "sha256:" + tag.ljust(64, "0")[:64], platforms, created,
                       "labels", "s", tag, layer, variant, sdk, sdk_version, framework, version, "", python,
                       "deb12", accelerator, scope)


def catalogue() -> list[ImageRecord]:
    return [
        image("np-1.9", "numpy", "1.9.0"),
        image("np-1.10", "numpy", "1.10.0"),
        image("np-1.10-dev", "numpy", "1.10.0", scope="develop", variant="dev"),
        image("np-1.10-gpu", "numpy", "1.10.0", accelerator="gpu", sdk="cuda", sdk_version="12.4.1"),
        image("np-1.10-inf", "numpy", "1.10.0", scope="inference", platforms=("linux/amd64",)),
        image("tg-0.10", "tinygrad", "0.10.3"),
        image("tg-0.9", "tinygrad", "0.9.2"),
        image("cann-rc1", layer="sdk", sdk="cann", sdk_version="8.0.RC1", scope="develop"),
        image("cann-800", layer="sdk", sdk="cann", sdk_version="8.0.0", scope="develop"),
    ]


def tags(records: list[ImageRecord]) -> list[str]:
    return [record.ref.rsplit(":", 1)[1] for record in records]


# --- records -----------------------------------------------------------------------------------


def test_a_record_reads_the_stackbuild_labels() -> None:
    labels = {"org.stackbuild.stack": "demo", "org.stackbuild.node": "numpy",
              "org.stackbuild.layer": "framework", "org.stackbuild.framework": "numpy",
              "org.stackbuild.framework_version": "2.2.6",
              "org.stackbuild.sdk": "cpu", "org.stackbuild.python": "3.11", "org.stackbuild.os": "deb12",
              "org.stackbuild.accelerator": "cpu", "org.stackbuild.scope": "training",
              "org.opencontainers.image.created": "2026-01-02T03:04:05Z", "other": "ignored"}
    record = record_of("h/fw:numpy", labels, "sha256:d", PLATFORMS, created="1999")
    assert (record.source, record.stack, record.node) == ("labels", "demo", "numpy")
    assert (record.layer, record.framework, record.version) == ("framework", "numpy", "2.2.6")
    assert (record.python, record.scope, record.digest) == ("3.11", "training", "sha256:d")
    assert (record.platforms, record.created) == (PLATFORMS, "2026-01-02T03:04:05Z")


def test_an_unlabelled_image_is_read_from_its_tag_with_a_convention() -> None:
    record = record_of("docker.io/openeuler/pytorch:pytorch2.4.0-cann8.0.RC2-oe2403lts-dev", {},
                       created="2025", conventions=("nvidia", "oeep14"))
    assert record.source == "tag"
    assert (record.layer, record.variant, record.framework, record.framework_version) == (
        "framework", "dev", "pytorch", "2.4.0")
    assert (record.sdk, record.sdk_version, record.os) == ("cann", "8.0.RC2", "2403lts")
    assert record.created == "2025"


def test_the_sdk_before_the_framework_is_filed_under_the_framework() -> None:
    record = record_of("r/llm:chatglm6b-cann7.0.RC1.alpha002-pytorch2.1.0-oe2203sp2", {},
                       conventions=("oeep14",))
    assert (record.layer, record.app, record.framework, record.framework_version) == (
        "llm", "chatglm6b", "pytorch", "2.1.0")
    assert (record.sdk, record.sdk_version, record.family) == ("cann", "7.0.RC1.alpha002", "pytorch")
    assert select([record], query_of(framework="pytorch", sdk="cann")) == [record]
    assert select([record], query_of(framework="cann")) == []


@pytest.mark.parametrize(("ref", "fields"), [
    ("registry.cn-beijing.aliyuncs.com/pai-dlc/tensorflow-training:2.3-cpu-py36-ubuntu18.04",
     ("tensorflow", "2.3", "training", "cpu", "3.6")),
    ("r/pai/pytorch-inference:2.1-py310-cu121-ubuntu22.04", ("pytorch", "2.1", "inference", "gpu", "3.10")),
    ("r/pai/tensorflow-inference:2.13-py310-cpu-ubuntu22.04",
     ("tensorflow", "2.13", "inference", "cpu", "3.10")),
    ("r/pai/tensorflow-training:1.15-mkl-cpu-py36-ubuntu18.04",
     ("tensorflow", "1.15", "training", "mkl-cpu", "3.6")),
    ("r/pai/pytorch-training:1.12-gpu-py36-ubuntu18.04", ("pytorch", "1.12", "training", "gpu", "3.6")),
    ("r/pai/torch:2.1-gpu-py310-cu121-ubuntu22.04", ("", "2.1", "", "gpu", "3.10")),
])
def test_pai_takes_framework_and_scope_from_the_repository(ref: str, fields: tuple[str, ...]) -> None:
    record = record_of(ref, {}, conventions=("oeep14", "pai"))
    assert record.source == "tag"
    assert fields == (record.framework, record.framework_version, record.scope, record.accelerator,
                      record.python)


def test_an_image_neither_labels_nor_conventions_explain_is_kept_bare() -> None:
    record = record_of("h/x:whatever", {"maintainer": "me"}, conventions=("oeep14",))
    assert (record.source, record.layer, record.version) == ("none", "", "")


def test_the_version_is_the_frameworks_else_the_sdks() -> None:
    assert image("a", "numpy", "2.0").version == "2.0"
    assert image("b", sdk="cann", sdk_version="8.0.0").version == "8.0.0"
    assert image("c", sdk="cann", sdk_version="8.0.0").family == "cann"


# --- queries -------------------------------------------------------------------------------------


def test_query_of_ignores_unset_filters_and_rejects_unknown_ones() -> None:
    assert query_of(framework="numpy", version=None, scope="") == Query(framework="numpy")
    with pytest.raises(StackError, match="unknown image filter 'colour'") as caught:
        query_of(colour="red")
    assert "framework" in caught.value.hint
    assert set(FILTERS) >= {"framework", "version", "sdk", "sdk_version", "python", "os", "accelerator",
                            "scope", "layer", "stack", "platform"}
    assert str(Query(framework="numpy", version="latest")) == "framework=numpy, version=latest"


def test_filters_compare_case_insensitively() -> None:
    assert tags(select(catalogue(), Query(framework="NumPy", accelerator="GPU"))) == ["np-1.10-gpu"]


def test_a_version_matches_itself_and_its_series_only() -> None:
    records = [image("a", "x", "2.2"), image("b", "x", "2.2.6"), image("c", "x", "2.20.1"),
               image("d", "x", "2")]
    assert tags(select(records, Query(version="2.2"))) == ["a", "b"]
    assert tags(select(records, Query(version="2"))) == ["a", "b", "c", "d"]
    assert tags(select(catalogue(), Query(sdk_version="8.0.rc1"))) == ["cann-rc1"]


def test_latest_keeps_the_newest_version_of_each_family() -> None:
    assert tags(select(catalogue(), Query(layer="framework", version="latest", scope="training",
                                          accelerator="cpu"))) == ["np-1.10", "tg-0.10"]
    # per layer and SDK: the newest CANN base, and the only framework image with an SDK version
    assert tags(select(catalogue(), Query(sdk_version="latest"))) == ["cann-800", "np-1.10-gpu"]
    assert tags(select(catalogue(), Query(sdk="cann", sdk_version="latest"))) == ["cann-800"]


def test_a_platform_filter_needs_that_platform() -> None:
    assert "np-1.10-inf" not in tags(select(catalogue(), Query(platform="linux/arm64")))
    assert "np-1.10-inf" in tags(select(catalogue(), Query(platform="linux/amd64")))


# --- best ---------------------------------------------------------------------------------------


def test_best_is_the_newest_version_by_version_order_not_by_text() -> None:
    found = best(catalogue(), Query(framework="numpy", version="latest", accelerator="cpu", scope="training"))
    assert found.ref.endswith(":np-1.10")  # 1.10.0 > 1.9.0, although "1.10" < "1.9" as text


def test_best_prefers_a_release_to_a_dev_variant_of_the_same_version() -> None:
    assert best(catalogue(), Query(framework="numpy", accelerator="cpu", python="3.11")).variant == ""


def test_best_of_sdks_orders_release_candidates_before_releases() -> None:
    assert best(catalogue(), Query(sdk="cann")).sdk_version == "8.0.0"


def test_best_prefers_more_platforms_then_the_newest() -> None:
    records = [image("one", "x", "1", platforms=("linux/amd64",), created="2026"),
               image("two", "x", "1", created="2025")]
    assert best(records, Query(framework="x")).ref.endswith(":two")
    records = [image("old", "x", "1", created="2025"), image("new", "x", "1", created="2026")]
    assert best(records, Query(framework="x")).ref.endswith(":new")


def test_no_match_lists_the_versions_there_are() -> None:
    with pytest.raises(NoImageMatches) as caught:
        best(catalogue(), Query(framework="numpy", version="3.0", accelerator="cpu"), where="r.example/x")
    assert isinstance(caught.value, GraphError)
    assert caught.value.message == ("no image in r.example/x matches framework=numpy, version=3.0, "
                                    "accelerator=cpu")
    assert caught.value.hint == "version can be 1.9.0, 1.10.0"


def test_no_match_names_each_filter_that_would_match_when_dropped() -> None:
    hint = available(catalogue(), Query(framework="tinygrad", accelerator="gpu"))
    assert hint == "framework can be numpy; accelerator can be cpu"
    hint = available(catalogue(), Query(framework="numpy", accelerator="npu"))
    assert hint == "accelerator can be cpu, gpu"


def test_no_match_far_from_everything_lists_frameworks_and_sdks() -> None:
    assert available(catalogue(), Query(framework="tinygrad", accelerator="gpu", scope="develop")).startswith(
        "no image comes close")
    hint = available(catalogue(), Query(framework="jax", accelerator="tpu"))
    assert hint == ("no image comes close; frameworks: numpy, tinygrad; SDKs: cann, cpu, cuda; "
                    "9 image(s) in all")
    assert "catalogue is empty" in available([], Query(framework="jax"))


def test_latest_prefers_a_release_to_a_newer_release_candidate() -> None:
    records = [image("t-2.1.0", "torch", "2.1.0"), image("t-2.2.0rc1", "torch", "2.2.0rc1"),
               image("c-8.1.RC1", layer="sdk", sdk="cann", sdk_version="8.1.RC1"),
               image("c-8.0.0", layer="sdk", sdk="cann", sdk_version="8.0.0"),
               image("m-2.3.0rc1", "mindspore", "2.3.0rc1")]
    assert tags(select(records, Query(version="latest"))) == ["c-8.0.0", "m-2.3.0rc1", "t-2.1.0"]
    assert tags(select(records, Query(version="latest-pre"))) == ["c-8.1.RC1", "m-2.3.0rc1", "t-2.2.0rc1"]
