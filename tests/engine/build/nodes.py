"""Two nodes (a root and its child, with build args and secrets) the build-request tests build."""

from __future__ import annotations

from pathlib import Path

from graph.model.spec import Node, Secret

ROOT = Path("/repo")
DIGEST = "sha256:" + "ab" * 32
SECRET_VALUE = "s3cr3t-value-never-logged"

BASE = Node(
    name="debian", stack="demo", kind="os", parent=None,
    dockerfile="stacks/demo/os/Dockerfile", context="stacks/demo/os",
    registry="localhost:5000/stackbuild", image="debian", tag="12",
    platforms=("linux/amd64", "linux/arm64"),
)
CHILD = Node(
    name="numpy", stack="demo", kind="framework", parent="debian",
    dockerfile="stacks/demo/framework/numpy/Dockerfile", context="stacks/demo/framework/numpy",
    registry="localhost:5000/stackbuild", image="framework", tag="numpy2.2.6",
    platforms=("linux/amd64", "linux/arm64"),
    args=(("NUMPY_VERSION", "2.2.6"), ("PIP_INDEX", "https://pypi.org/simple")),
    secrets=(Secret("ca-bundle", src="/etc/ssl/certs/ca.crt"), Secret("token", env="HF_TOKEN")),
)
