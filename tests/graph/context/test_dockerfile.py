"""other_images: what a Dockerfile would pull besides its parent context and its own stages."""

from __future__ import annotations

import pytest

from graph.context.dockerfile import other_images


@pytest.mark.parametrize("text", [
    "FROM parent\nRUN true\n",
    "FROM --platform=$BUILDPLATFORM parent AS build\nFROM build\nCOPY --from=build /a /a\n",
    "FROM scratch\nCOPY a /a\n",
    "from Parent as Python\nFROM parent\ncopy --from=python /x /x\nCOPY --from=0 /y /y\n",
    "FROM parent\nRUN --mount=type=cache,target=/root/.cache pip install x\n",
    "FROM parent AS deps\nFROM parent\nRUN --mount=type=bind,from=deps,source=/w,target=/w true\n",
    "# syntax=docker/dockerfile:1\n# a comment\nFROM parent\n",
])
def test_a_dockerfile_on_its_parent_and_stages_names_no_other_image(text: str) -> None:
    assert other_images(text) == ()


@pytest.mark.parametrize(("text", "images"), [
    ("FROM python:3.12 AS build\nFROM parent\nCOPY --from=build /a /a\n", ("python:3.12",)),
    ("FROM parent\nCOPY --from=busybox:1.36 /bin/sh /sh\n", ("busybox:1.36",)),
    ("FROM parent\nRUN --mount=type=bind,from=tools:1,target=/t true\n", ("tools:1",)),
    ("ARG BASE=parent\nFROM ${BASE}\n", ("${BASE}",)),  # a variable may be any image
    ("FROM parent\nCOPY --from=a:1 /x /x\nCOPY --from=a:1 /y /y\n", ("a:1",)),
    ("FROM \\\n  --platform=linux/arm64 \\\n  debian:12\n", ("debian:12",)),
    ("# escape=`\nFROM parent\nCOPY `\n  --from=b:2 /x /x\n", ("b:2",)),
])
def test_images_outside_the_stack_are_named_once_in_order(text: str, images: tuple[str, ...]) -> None:
    assert other_images(text) == images


def test_a_stage_named_later_than_its_use_is_an_image_and_comments_are_not_instructions() -> None:
    text = "FROM parent\nCOPY --from=later /a /a\n# FROM commented:1\nFROM parent AS later\n"
    assert other_images(text) == ("later",)


def test_escape_is_a_directive_only_above_the_first_instruction() -> None:
    text = "FROM parent\n# escape=`\nCOPY \\\n  --from=c:3 /x /x\n"
    assert other_images(text) == ("c:3",)
