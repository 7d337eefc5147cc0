#!/usr/bin/env python3
"""Write tests/stacks/data/openeuler-published-tags.csv from a clone of openeuler-docker-images.

Usage: scripts/openeuler-published-tags.py CLONE [COMMIT] > tests/stacks/data/openeuler-published-tags.csv
Reads every AI/**/meta.yml at COMMIT (default HEAD) with git. The fields of each tag are read here,
independently of stackbuild's tag parser, so the test comparing the two means something.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys

import yaml

REPO = "openeuler-mirror/openeuler-docker-images"
SDK = {"cann", "cuda", "maca-sdk", "oneapi-basekit", "oneapi-runtime"}
FRAMEWORK = {"pytorch", "mindspore"}
HEADER = """\
# openEuler's published AI image tags: every tag of every AI/**/meta.yml in
# {repo} at {commit}
# (committed {date}), {tags} tags of {files} files; there is no AI/tensorflow folder there.
# repository is the image's name (AI/image-list.yml), source the meta.yml the tag came from.
# kind and fields are what the tag says, read independently of stackbuild's parser: os from the
# Dockerfile's folder in meta.yml (EulerPublisher's 22.03-lts-sp4 -> 2203sp4), the rest by splitting
# the image version on '-' (sdk: cann cuda maca-sdk oneapi-*; framework: pytorch mindspore; llm: llm;
# any other image is a tool whose first part is app_version). Made by
# scripts/openeuler-published-tags.py; tests/stacks/test_openeuler_tags.py checks that the openeuler
# convention parses each tag to exactly these fields and regenerates it.
"""


def git(clone: str, *args: str) -> str:
    """git's output in the clone."""
    return subprocess.run(["git", "-C", clone, *args], check=True, capture_output=True, text=True).stdout


def os_of(release: str) -> str:
    """EulerPublisher's _transform_version_format: 22.03-lts-sp4 → 2203sp4, 24.03-lts → 2403lts."""
    if "-sp" in release:
        release = release.replace("lts", "")
    return release.replace(".", "").replace("-", "")


def split(part: str) -> tuple[str, str]:
    """'cann8.0.RC1' → ('cann', '8.0.RC1'); a part starting with a digit has no name."""
    found = re.fullmatch(r"([a-z_]+)([0-9].*)", part)
    return (found[1], found[2]) if found else ("", part)


def head(image: str, first: str) -> tuple[str, dict[str, str]]:
    """The kind of image and the fields its tag's first part says."""
    if image in SDK:
        return "sdk", {"sdk_version": first}
    if image in FRAMEWORK:
        name, version = split(first)
        named = {"framework": name, "tag_framework": "yes"} if name else {}
        return "framework", {**named, "framework_version": version}
    if image == "llm":
        return "llm", {"app": first}
    return "tool", {"app_version": first}


def fields(image: str, version: str) -> tuple[str, dict[str, str]]:
    """The kind and fields of an image version (the tag without -oe<os>)."""
    first, *rest = version.split("-")
    kind, out = head(image, first)
    for part in rest:
        name, value = split(part)
        if name == "python":
            out.update({"python": value, **({"tag_python": "yes"} if kind == "sdk" else {})})
        elif name == "cudnn":
            out["cudnn"] = value
        elif name == "cann":
            out.update({"sdk": name, "sdk_version": value})
        elif name:
            out.update({"framework": name, "framework_version": value})
        else:
            raise SystemExit(f"cannot read {part!r} of {image}:{version}")
    return kind, out


def rows(clone: str, commit: str) -> tuple[list[list[str]], int]:
    """One row per published tag, and how many meta.yml files there are."""
    files = [f for f in git(clone, "ls-tree", "-r", "--name-only", commit, "AI").split()
             if f.endswith("/meta.yml")]
    listed = yaml.safe_load(git(clone, "show", f"{commit}:AI/image-list.yml"))["images"]
    names = {folder.strip("/"): name for name, folder in listed.items()}
    found = []
    for path in files:
        folder = path.removeprefix("AI/").removesuffix("/meta.yml")
        image = names.get(folder, folder.rsplit("/", 1)[-1])
        for tag, entry in yaml.safe_load(git(clone, "show", f"{commit}:{path}")).items():
            release = entry["path"].strip().split("/")[-2]  # one mlflow path repeats AI/mlflow/
            os_name = os_of(release)
            assert tag.endswith("-oe" + os_name), (path, tag, release)
            kind, said = fields(image, tag.removesuffix("-oe" + os_name))
            said["os"] = os_name
            found.append([image, tag, kind, " ".join(f"{k}={v}" for k, v in sorted(said.items())),
                          f"{REPO}@{commit}:{path}"])
    return found, len(files)


def main(clone: str, commit: str = "HEAD") -> None:
    """Print the fixture."""
    commit = git(clone, "rev-parse", commit).strip()
    found, files = rows(clone, commit)
    text = io.StringIO()
    date = git(clone, "log", "-1", "--format=%cs", commit).strip()
    text.write(HEADER.format(repo=REPO, commit=commit, date=date, tags=len(found), files=files))
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["repository", "tag", "kind", "fields", "source"])
    writer.writerows(found)
    sys.stdout.write(text.getvalue())


if __name__ == "__main__":
    main(*sys.argv[1:3])
