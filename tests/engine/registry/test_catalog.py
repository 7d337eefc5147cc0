"""engine.registry.catalog against a tiny registry on 127.0.0.1: listing, paging, labels, conventions,
the CLI."""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main as cli
from engine.errors import RegistryError
from engine.registry.catalog import Catalogue, best_image, find_images, gather, sources, stack_repositories
from engine.registry.client import RegistryClient, next_link
from graph.present.catalog import NoImageMatches
from tests.loopback import QuietHandler, serving

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
PLATFORMS = ("linux/amd64", "linux/arm64")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def labels(node: str, framework: str = "", version: str = "", **extra: str) -> dict[str, str]:
    values = {"stack": "demo", "node": node, "layer": "framework" if framework else "sdk", "sdk": "cpu",
              "python": "3.11", "os": "deb12", "accelerator": "cpu", "scope": "training",
              "framework": framework, "framework_version": version, **extra}
    return {f"org.stackbuild.{key}": value for key, value in values.items() if value}


@dataclass
class Store:
    """The registry's content: tags per repository, manifests and blobs by digest; what was asked."""

    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # repository → tag → digest
    objects: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # digest → (media type, body)
    page: int = 2  # the most entries one page holds, whatever `n` asks
    refuse_catalog: bool = False
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, media_type: str, body: dict[str, Any]) -> str:
        data = json.dumps(body).encode()
        self.objects[digest_of(data)] = (media_type, data)
        return digest_of(data)

    def image(self, repository: str, tag: str, image_labels: dict[str, str],
              platforms: tuple[str, ...] = PLATFORMS, index: bool = True) -> str:
        """Push an image (an index of one manifest per platform, or a single manifest) under tag."""
        entries = []
        for platform in platforms:
            os_name, arch = platform.split("/")
            config = self.put("application/vnd.oci.image.config.v1+json", {
                "os": os_name, "architecture": arch, "created": "2026-01-01T00:00:00Z",
                "config": {"Labels": image_labels, "Cmd": ["bash"]}})
            manifest = self.put(OCI_MANIFEST, {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                               "config": {"digest": config}, "layers": []})
            entries.append({"mediaType": OCI_MANIFEST, "digest": manifest, "size": 1,
                            "platform": {"os": os_name, "architecture": arch}})
        if index:
            entries.append({"mediaType": OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 1,
                            "platform": {"os": "unknown", "architecture": "unknown"},
                            "annotations": {"vnd.docker.reference.type": "attestation-manifest"}})
            top = self.put(OCI_INDEX, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        else:
            top = entries[0]["digest"]
        self.tags.setdefault(repository, {})[tag] = top
        return top

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.paths.append(path)
        url = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/v2/":
            return 200, {}, b"{}"
        parts = url.path.removeprefix("/v2/").split("/")
        if parts == ["_catalog"]:
            if self.refuse_catalog:
                return 401, {}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
            return self._paged(url.path, "repositories", sorted(self.tags), query, {})
        name, kind, ref = "/".join(parts[:-2]), parts[-2], parts[-1]
        if kind == "tags" and ref == "list" and name in self.tags:
            return self._paged(url.path, "tags", sorted(self.tags[name]), query, {"name": name})
        digest = self.tags.get(name, {}).get(ref, ref)
        if kind in ("manifests", "blobs") and digest in self.objects:
            media_type, body = self.objects[digest]
            return 200, {"Content-Type": media_type, "Docker-Content-Digest": digest}, body
        return 404, {}, b'{"errors":[{"code":"NOT_FOUND"}]}'

    def _paged(self, path: str, key: str, items: list[str], query: dict[str, str],
               extra: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """One page after `last`, with a Link to the next one, like distribution does."""
        size = min(int(query.get("n", "100")), self.page)
        rest = [item for item in items if item > query.get("last", "")]
        page, more = rest[:size], len(rest) > size
        headers = {"Link": f'<{path}?last={page[-1]}&n={size}>; rel="next"'} if more else {}
        return 200, headers, json.dumps({**extra, key: page}).encode()


@pytest.fixture
def store() -> Iterator[tuple[Store, str]]:
    """A running tiny registry: (its store, its host:port)."""
    content = Store()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            status, headers, body = content.answer(self.path)
            self.answer(status, body, headers)

    with serving(Handler) as served:
        yield content, served.host


def client() -> RegistryClient:
    return RegistryClient(timeout_s=5, attempts=1)


def fill(content: Store, host: str) -> None:
    """demo images below host/demo, plus a neighbour prefix and stackbuild's own content/cache tags."""
    content.image("demo/framework", "numpy1.9.0", labels("numpy-a", "numpy", "1.9.0"))
    content.image("demo/framework", "numpy1.10.0", labels("numpy-b", "numpy", "1.10.0"))
    content.image("demo/framework", "numpy1.10.0-dev", labels("numpy-b-dev", "numpy", "1.10.0",
                                                              scope="develop", variant="dev"))
    content.image("demo/framework", "tinygrad0.10.3", labels("tinygrad", "tinygrad", "0.10.3"),
                  platforms=("linux/arm64",))
    content.image("demo/framework", "sb-" + "f" * 64, labels("numpy-b", "numpy", "1.10.0"))
    content.image("demo/framework", "sbcache-0123456789abcdef", {})
    content.image("demo/sdk", "cpu", labels("sdk"), index=False)
    content.image("demo2/other", "x", labels("other", "numpy", "9.9"))
    content.image("elsewhere/pytorch", "pytorch2.4.0-cann8.0.RC2-oe2403lts", {})


# --- listing ------------------------------------------------------------------------------------


def test_repositories_below_a_prefix_across_pages(store: tuple[Store, str]) -> None:
    content, host = store
    fill(content, host)
    reader = Catalogue(client())
    assert reader.repositories(f"{host}/demo") == [f"{host}/demo/framework", f"{host}/demo/sdk"]
    assert len(reader.repositories(host)) == 4
    assert sum(1 for path in content.paths if path.startswith("/v2/_catalog")) >= 4  # paged by 2


def test_tags_leave_out_content_and_cache_tags(store: tuple[Store, str]) -> None:
    content, host = store
    fill(content, host)
    assert Catalogue(client()).tags(f"{host}/demo/framework") == [
        "numpy1.10.0", "numpy1.10.0-dev", "numpy1.9.0", "tinygrad0.10.3"]


def test_records_come_from_labels_with_platforms_and_digest(store: tuple[Store, str]) -> None:
    content, host = store
    fill(content, host)
    records = {r.ref.rsplit(":", 1)[1]: r for r in Catalogue(client()).records(f"{host}/demo")}
    assert sorted(records) == ["cpu", "numpy1.10.0", "numpy1.10.0-dev", "numpy1.9.0", "tinygrad0.10.3"]
    numpy = records["numpy1.10.0"]
    assert (numpy.node, numpy.framework, numpy.version) == ("numpy-b", "numpy", "1.10.0")
    assert numpy.source == "labels"
    assert numpy.platforms == PLATFORMS
    assert numpy.digest == content.tags["demo/framework"]["numpy1.10.0"]
    assert numpy.created == "2026-01-01T00:00:00Z"
    assert records["tinygrad0.10.3"].platforms == ("linux/arm64",)
    assert (records["cpu"].platforms, records["cpu"].layer) == (("linux/amd64",), "sdk")  # a single manifest


def test_unlabelled_images_are_read_with_a_convention(store: tuple[Store, str]) -> None:
    content, host = store
    fill(content, host)
    (record,) = Catalogue(client()).records(f"{host}/elsewhere", ("oeep14",))
    assert (record.source, record.framework, record.version) == ("tag", "pytorch", "2.4.0")
    assert record.sdk == "cann"


def test_a_tag_deleted_while_listing_is_skipped(store: tuple[Store, str]) -> None:
    _, host = store
    assert Catalogue(client()).record(f"{host}/demo/gone:1") is None


@pytest.mark.parametrize(("header", "target"), [
    ('</v2/_catalog?last=b&n=2>; rel="next"', "/v2/_catalog?last=b&n=2"),
    ("</v2/x/tags/list?last=1>;rel=next", "/v2/x/tags/list?last=1"),
    ('<https://a/b>; rel="prev"', ""), ("", "")])
def test_next_link(header: str, target: str) -> None:
    assert next_link(header) == target


# --- the Python API -----------------------------------------------------------------------------


def test_find_images_filters_what_the_registry_holds(store: tuple[Store, str]) -> None:
    content, host = store
    fill(content, host)
    found = find_images(f"{host}/demo", client=client(), framework="numpy", scope="training")
    assert [r.ref for r in found] == [f"{host}/demo/framework:numpy1.10.0",
                                      f"{host}/demo/framework:numpy1.9.0"]
    arm = find_images(f"{host}/demo", client=client(), platform="linux/arm64", layer="framework")
    assert len(arm) == 4


def test_best_image_is_the_newest_release(store: tuple[Store, str]) -> None:
    content, host = store
    fill(content, host)
    found = best_image(f"{host}/demo", client=client(), framework="numpy", version="latest",
                       accelerator="cpu")
    assert found.ref == f"{host}/demo/framework:numpy1.10.0"
    both = best_image([f"{host}/demo", f"{host}/demo2"], client=client(), framework="numpy")
    assert both.ref == f"{host}/demo2/other:x"


def test_best_image_without_a_match_names_the_versions(store: tuple[Store, str]) -> None:
    content, host = store
    fill(content, host)
    with pytest.raises(NoImageMatches, match=r"in .*/demo matches framework=numpy, version=2\.0") as caught:
        best_image(f"{host}/demo", client=client(), framework="numpy", version="2.0")
    assert caught.value.hint == "version can be 1.9.0, 1.10.0"


# --- sources and failures -----------------------------------------------------------------------


def test_sources_are_the_stacks_registries_with_their_conventions(tmp_path: Path) -> None:
    for name, registry, tags in (("a", "r.example/a", "tags: oeep14\n"), ("b", "r.example/b", "")):
        folder = tmp_path / "stacks" / name
        (folder / "os").mkdir(parents=True)
        (folder / "os" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
        (folder / "stack.yaml").write_text(
            f"stack: {name}\nregistry: {registry}\n{tags}nodes:\n  os:\n    kind: os\n"
            "    dockerfile: os/Dockerfile\n    tag: '1'\n    attrs: {os: 2203sp3}\n", encoding="utf-8")
    assert sources(tmp_path, (Path("stacks"),)) == [("r.example/a", ("oeep14",)), ("r.example/b", ())]
    assert sources(tmp_path, (Path("stacks"),), "mirror:5000/x") == [("mirror:5000/x", ("oeep14",))]
    assert sources(tmp_path / "nowhere", (Path("stacks"),), "mirror:5000/x") == [("mirror:5000/x", ())]


def test_an_unreadable_registry_is_skipped_with_a_warning(store: tuple[Store, str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    content, host = store
    fill(content, host)
    records = gather([(f"{host}/demo", ()), ("127.0.0.1:9/none", ())], client())
    assert len(records) == 5
    assert "warning: cannot read the catalogue of 127.0.0.1:9/none" in capsys.readouterr().err


def test_a_registry_refusing_its_catalogue_without_known_repositories_is_an_error(
        store: tuple[Store, str]) -> None:
    content, host = store
    content.refuse_catalog = True
    with pytest.raises(RegistryError) as caught:
        gather([(f"{host}/demo", ())], client())
    assert caught.value.message == f"{host} does not list its repositories (no /v2/_catalog for this login)"
    assert "stack files" in caught.value.hint


def test_without_a_catalogue_the_stacks_repositories_are_listed(store: tuple[Store, str]) -> None:
    content, host = store
    fill(content, host)
    content.refuse_catalog = True
    content.page = 1  # every tag list takes several pages
    known = [f"{host}/demo/framework", f"{host}/demo/sdk", f"{host}/elsewhere/x"]
    records = gather([(f"{host}/demo", ())], client(), known=known)
    assert [r.ref.removeprefix(host) for r in records] == [
        "/demo/framework:numpy1.10.0", "/demo/framework:numpy1.10.0-dev", "/demo/framework:numpy1.9.0",
        "/demo/framework:tinygrad0.10.3", "/demo/sdk:cpu"]
    assert sum(1 for path in content.paths if path.startswith("/v2/demo/framework/tags/list")) == 6


def test_stack_repositories_are_the_nodes_repositories(tmp_path: Path) -> None:
    folder = tmp_path / "stacks" / "a"
    (folder / "os").mkdir(parents=True)
    (folder / "os" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (folder / "stack.yaml").write_text(
        "stack: a\nregistry: r.example/a\nnodes:\n  os:\n    kind: os\n    image: base\n"
        "    dockerfile: os/Dockerfile\n    tag: '1'\n", encoding="utf-8")
    assert stack_repositories(tmp_path, (Path("stacks"),)) == ("r.example/a/base",)
    assert stack_repositories(tmp_path, (Path("stacks"),), "h:5000/x") == ("h:5000/x/base",)


# --- the CLI ------------------------------------------------------------------------------------


def images(tmp_path: Path, host: str, *argv: str) -> int:
    return cli.main(["images", "--root", str(tmp_path), "--registry", f"{host}/demo", *argv])


def test_cli_best_prints_the_single_ref(store: tuple[Store, str], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    content, host = store
    fill(content, host)
    assert images(tmp_path, host, "--framework", "numpy", "--version", "latest", "--accelerator", "cpu",
                  "--scope", "training", "--best") == 0
    assert capsys.readouterr().out == f"{host}/demo/framework:numpy1.10.0\n"
    assert images(tmp_path, host, "--framework", "tinygrad", "--best", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["version"] == "0.10.3"


def test_cli_lists_a_table_or_json(store: tuple[Store, str], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    content, host = store
    fill(content, host)
    assert images(tmp_path, host, "--layer", "framework", "--version", "latest") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["LAYER", "FRAMEWORK", "SDK", "PYTHON", "OS", "ACCEL", "SCOPE", "PLATFORMS",
                                "REF"]
    assert [line.split()[-1].rsplit(":", 1)[1] for line in lines[1:-1]] == [
        "numpy1.10.0", "numpy1.10.0-dev", "tinygrad0.10.3"]
    assert lines[-1] == "3 image(s)"
    assert images(tmp_path, host, "--sdk", "cpu", "--layer", "sdk", "--format", "json") == 0
    assert [item["node"] for item in json.loads(capsys.readouterr().out)["images"]] == ["sdk"]


def test_cli_without_a_match(store: tuple[Store, str], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    content, host = store
    fill(content, host)
    assert images(tmp_path, host, "--framework", "numpy", "--version", "3", "--best") == 2
    err = capsys.readouterr().err
    assert f"error: no image in {host}/demo matches framework=numpy, version=3 (version can be 1.9.0, " in err
    assert images(tmp_path, host, "--framework", "jax") == 1
    assert capsys.readouterr().out == "no image matches\n"


def test_sources_add_the_definitions_own_conventions_after_the_stacks(tmp_path: Path) -> None:
    folder = tmp_path / "stacks" / "p"
    for name in ("os", "torch"):
        (folder / name).mkdir(parents=True)
        (folder / name / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (folder / "stack.yaml").write_text(
        "stack: p\nregistry: r.example/p\ntags: oeep14\nnodes:\n"
        "  os:\n    kind: os\n    attrs: {os: 2203sp3}\n"
        "  torch:\n    kind: framework\n    parent: os\n    image: pytorch-training\n    tags: pai\n"
        "    attrs: {framework_version: '2.1', accelerator: cpu, python: '3.10', os_name: ubuntu,"
        " os_version: '22.04'}\n", encoding="utf-8")
    assert sources(tmp_path, (Path("stacks"),)) == [("r.example/p", ("oeep14", "pai"))]


def test_cli_reads_pai_framework_and_scope_from_the_repository_names(
        store: tuple[Store, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content, host = store
    content.image("pai/pytorch-inference", "2.1-py310-cu121-ubuntu22.04", {})
    content.image("pai/pytorch-training", "2.1-gpu-py310-cu121-ubuntu22.04", {})
    content.image("pai/tensorflow-training", "1.15-mkl-cpu-py36-ubuntu18.04", {})
    folder = tmp_path / "stacks" / "p"
    (folder / "torch").mkdir(parents=True)
    (folder / "torch" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (folder / "stack.yaml").write_text(  # the convention is the definition's own
        f"stack: p\nregistry: {host}/pai\nnodes:\n"
        "  torch:\n    kind: framework\n    image: pytorch-training\n"
        "    tags: pai\n    attrs: {framework_version: '2.1', accelerator: cpu, python: '3.10', "
        "os_name: ubuntu, os_version: '22.04'}\n", encoding="utf-8")
    argv = ["images", "stacks/p", "--root", str(tmp_path)]
    assert cli.main([*argv, "--framework", "pytorch", "--scope", "inference", "--best"]) == 0
    assert capsys.readouterr().out == f"{host}/pai/pytorch-inference:2.1-py310-cu121-ubuntu22.04\n"
    assert cli.main([*argv, "--scope", "training", "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)["images"]
    assert [(r["framework"], r["framework_version"], r["accelerator"], r["python"]) for r in found] == [
        ("pytorch", "2.1", "gpu", "3.10"), ("tensorflow", "1.15", "mkl-cpu", "3.6")]
